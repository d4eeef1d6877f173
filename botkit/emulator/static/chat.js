// The customer's page. StartChatContact is the one call a real website makes from its BACKEND (it needs AWS
// credentials, so never from a browser); the emulator accepts it unsigned, so this page makes it itself, as that
// backend would. Everything after it is the Participant Service and its websocket, exactly as a chat widget speaks them.
import { ChatView, SUPPORTED_CONTENT_TYPES, callJson, clientToken, viewElements } from "./chatkit.js";

const widget = document.getElementById("widget");
const form = document.getElementById("start");
const view = new ChatView(viewElements(), { canAnswer: true });

async function startChatContact(displayName) {
  return callJson("PUT", "/contact/chat", {
    InstanceId: widget.dataset.instanceId,
    ContactFlowId: widget.dataset.contactFlowId,
    ParticipantDetails: { DisplayName: displayName },
    SupportedMessagingContentTypes: SUPPORTED_CONTENT_TYPES,
    ClientToken: clientToken(),
  });
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  view.status("Connecting…");
  try {
    const chat = await startChatContact(document.getElementById("name").value.trim() || "Customer");
    widget.dataset.contactId = chat.ContactId;
    form.hidden = true;
    await view.open(chat.ParticipantToken, chat.ParticipantId);
  } catch (error) {
    view.status(`Could not start the chat: ${error.message}`);
    button.disabled = false;
  }
});
