// The agent's page: the emulator's control API stands in for the agent workspace (list the chats, accept one);
// from the participant token on, it is the Participant Service and its websocket, as for the customer.
import { ChatView, callJson, viewElements } from "./chatkit.js";

const widget = document.getElementById("widget");
const list = document.getElementById("contact-list");
const empty = document.getElementById("no-contacts");
const view = new ChatView(viewElements(), { canAnswer: false });

function text(tag, className, value) {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = value;
  return node;
}

async function refresh() {
  const { Contacts: contacts } = await callJson("GET", "/emulator/contacts?active=true");
  list.replaceChildren();
  empty.hidden = contacts.length > 0;
  for (const contact of contacts) {
    const row = document.createElement("li");
    row.className = "contact";
    row.dataset.contactId = contact.ContactId;
    const people = contact.Participants.filter((p) => p.Active).map((p) => `${p.DisplayName} (${p.ParticipantRole})`);
    const about = document.createElement("div");
    about.append(text("div", "contact-id", contact.ContactId), text("div", "contact-people", people.join(", ")),
      text("div", "contact-state", `${contact.State} · ${contact.ItemCount} items`));
    const actions = document.createElement("div");
    actions.className = "contact-actions";
    for (const [role, label] of [["AGENT", "Join as agent"], ["SUPERVISOR", "Barge in as supervisor"]]) {
      const button = text("button", `join join-${role.toLowerCase()}`, label);
      button.type = "button";
      button.addEventListener("click", () => join(contact.ContactId, role));
      actions.append(button);
    }
    row.append(about, actions);
    list.append(row);
  }
}

async function join(contactId, role) {
  const name = document.getElementById("name").value.trim() || role.toLowerCase();
  view.status("Joining…");
  try {
    const joined = await callJson("POST", `/emulator/contacts/${encodeURIComponent(contactId)}/participants`,
      { ParticipantRole: role, DisplayName: name });
    document.getElementById("contacts").hidden = true;
    widget.dataset.contactId = contactId;
    await view.open(joined.ParticipantToken, joined.ParticipantId);
    view.status(`${role === "AGENT" ? "Agent" : "Supervisor"} on ${contactId}`);
  } catch (error) {
    view.status(`Could not join: ${error.message}`);
  }
}

document.getElementById("refresh").addEventListener("click", () => refresh().catch((error) => view.status(error.message)));
refresh().catch((error) => view.status(`Could not list chats: ${error.message}`));
