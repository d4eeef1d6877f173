// The chat view both pages share: the Participant Service over REST and its websocket, as amazon-connect-chatjs
// speaks them, and a transcript rendered without ever handing raw content to innerHTML.

const INTERACTIVE = "application/vnd.amazonaws.connect.message.interactive";
const INTERACTIVE_RESPONSE = INTERACTIVE + ".response";
const EVENT = "application/vnd.amazonaws.connect.event.";
const TYPING = EVENT + "typing";
const JOINED = EVENT + "participant.joined";
const LEFT = EVENT + "participant.left";
const CHAT_ENDED = EVENT + "chat.ended";
const DELIVERED = EVENT + "message.delivered";
const READ = EVENT + "message.read";
const TYPING_THROTTLE_MS = 10000;  // chatjs sends one typing event per 10 s at most
const TYPING_SHOWN_MS = 12000;
const HEARTBEAT_MS = 10000;

export const SUPPORTED_CONTENT_TYPES = ["text/plain", "text/markdown", INTERACTIVE, INTERACTIVE_RESPONSE];

export function clientToken() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class ServiceError extends Error {
  constructor(status, type, message) {
    super(`${type || status}: ${message}`);
    this.status = status;
    this.type = type;
  }
}

// One JSON call to the service; the token travels in X-Amz-Bearer, never in a URL or a log.
export async function callJson(method, path, body, bearer) {
  const headers = { "Content-Type": "application/json" };
  if (bearer) headers["X-Amz-Bearer"] = bearer;
  const answer = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await answer.text();
  const decoded = text ? JSON.parse(text) : {};
  if (!answer.ok) {
    const type = (answer.headers.get("x-amzn-ErrorType") || "").split(":")[0];
    throw new ServiceError(answer.status, type, decoded.message || decoded.Message || answer.statusText);
  }
  return decoded;
}

// ---------------------------------------------------------------------------------------------------------------
// Markdown, safely: the whole text is escaped first; only then does a tiny subset become markup.

export function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function inlineMarkdown(escaped) {
  const codes = [];
  let html = escaped.replace(/`([^`\n]+)`/g, (_, code) => `\u0000${codes.push(code) - 1}\u0000`);
  html = html.replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s()]+)\)/g,
    (_, label, url) => `<a href="${url}" target="_blank" rel="noopener noreferrer">${label}</a>`);
  html = html.replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>");
  html = html.replace(/__([^_\n]+)__/g, "<strong>$1</strong>");
  html = html.replace(/(^|[^*\w])\*([^*\n]+)\*(?!\w)/g, "$1<em>$2</em>");
  html = html.replace(/(^|[^_\w])_([^_\n]+)_(?!\w)/g, "$1<em>$2</em>");
  return html.replace(/\u0000(\d+)\u0000/g, (_, index) => `<code>${codes[Number(index)]}</code>`);
}

export function renderMarkdown(text) {
  return inlineMarkdown(escapeHtml(text)).replace(/\n/g, "<br>");
}

// ---------------------------------------------------------------------------------------------------------------

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function timeOf(item) {
  const when = new Date(item.AbsoluteTime);
  return Number.isNaN(when.getTime()) ? "" : when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function httpUrl(value) {
  return typeof value === "string" && /^https?:\/\//.test(value) ? value : null;
}

export class ChatView {
  // `dom`: log, typing, composer, text, file, status, end. `canAnswer`: whether interactive prompts take clicks.
  constructor(dom, { canAnswer }) {
    this.dom = dom;
    this.canAnswer = canAnswer;
    this.seen = new Set();
    this.receipted = new Set();
    this.ownNodes = new Map();
    this.names = new Map();
    this.lastTyping = 0;
    this.typingTimer = null;
    this.ended = false;
    this.left = false;
    this.socket = null;
    this.heartbeat = null;
    this.participantToken = null;
    this.connectionToken = null;
    this.me = null;
    this.bind();
  }

  bind() {
    const { composer, text, file, end } = this.dom;
    composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendText();
    });
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.sendText();
      }
    });
    text.addEventListener("input", () => this.typed());
    file.addEventListener("change", () => {
      const chosen = file.files[0];
      file.value = "";
      if (chosen) this.upload(chosen).catch((error) => this.notice(`Upload failed: ${error.message}`, "error"));
    });
    end.addEventListener("click", () => this.leave());
    document.addEventListener("visibilitychange", () => this.readVisible());
  }

  status(text) {
    this.dom.status.textContent = text;
  }

  // CreateParticipantConnection with the participant token, then the websocket, then the transcript so far.
  async open(participantToken, participantId) {
    this.participantToken = participantToken;
    this.me = participantId;
    const connection = await callJson("POST", "/participant/connection",
      { Type: ["WEBSOCKET", "CONNECTION_CREDENTIALS"], ConnectParticipant: true }, participantToken);
    this.connectionToken = connection.ConnectionCredentials.ConnectionToken;
    await this.subscribe(connection.Websocket.Url);
    for (const node of [this.dom.log, this.dom.composer, this.dom.end]) node.hidden = false;
    this.status("Connected");
    await this.loadTranscript();
    this.dom.text.focus();
  }

  subscribe(url) {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      this.socket = socket;
      socket.addEventListener("open", () => {
        socket.send(JSON.stringify({ topic: "aws/subscribe", content: { topics: ["aws/chat"] } }));
      });
      socket.addEventListener("message", (event) => {
        const frame = parseJson(event.data);
        if (!frame) return;
        if (frame.topic === "aws/subscribe") {
          if (frame.content && frame.content.status === "success") resolve();
          else reject(new Error("subscription refused"));
        } else if (frame.topic === "aws/chat") {
          const item = parseJson(frame.content);
          if (item) this.receive(item, true);
        }
      });
      socket.addEventListener("error", () => reject(new Error("websocket failed")));
      socket.addEventListener("close", () => this.socketClosed(socket));
      clearInterval(this.heartbeat);
      this.heartbeat = setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ topic: "aws/heartbeat" }));
      }, HEARTBEAT_MS);
    });
  }

  // A dropped socket is opened again, as chatjs does, and the transcript read forward for what passed meanwhile.
  async socketClosed(socket) {
    if (socket !== this.socket || this.ended) return;
    if (this.left) return this.finish("You left the chat");
    this.status("Reconnecting…");
    try {
      const connection = await callJson("POST", "/participant/connection", { Type: ["WEBSOCKET"] },
        this.participantToken);
      await this.subscribe(connection.Websocket.Url);
      await this.loadTranscript();
      this.status("Connected");
    } catch (error) {
      this.status(`Disconnected: ${error.message}`);
    }
  }

  async loadTranscript() {
    let request = { ScanDirection: "BACKWARD", SortOrder: "ASCENDING", MaxResults: 100 };
    const pages = [];
    for (;;) {
      const page = await this.call("/participant/transcript", request);
      pages.unshift(page.Transcript || []);
      if (!page.NextToken) break;
      request = { ...request, NextToken: page.NextToken };
    }
    for (const item of pages.flat()) this.receive(item, false);
  }

  call(path, body) {
    return callJson("POST", path, body, this.connectionToken);
  }

  // Every item, live or from the transcript, comes through here once.
  receive(item, live) {
    if (item.ContentType === TYPING) return this.showTyping(item);
    if (item.Type === "MESSAGEMETADATA") return this.showReceipts(item.MessageMetadata);
    if (!item.Id || this.seen.has(item.Id)) return;
    this.seen.add(item.Id);
    if (item.ParticipantId && item.DisplayName) this.names.set(item.ParticipantId, item.DisplayName);
    if (item.Type === "MESSAGE") this.showMessage(item);
    else if (item.Type === "ATTACHMENT") this.showAttachment(item);
    else if (item.Type === "EVENT") this.showEvent(item, live);
    if (item.MessageMetadata) this.showReceipts(item.MessageMetadata);
    if ((item.Type === "MESSAGE" || item.Type === "ATTACHMENT") && item.ParticipantId !== this.me) {
      this.hideTyping(item.ParticipantId);
      this.acknowledge(item);
    }
    this.scroll();
  }

  scroll() {
    this.dom.log.scrollTop = this.dom.log.scrollHeight;
  }

  bubble(item) {
    const own = item.ParticipantId === this.me;
    const role = (item.ParticipantRole || "SYSTEM").toLowerCase().replace("_", "-");
    const row = element("div", `row ${own ? "own" : "other"} role-${role}`);
    row.dataset.id = item.Id;
    row.dataset.role = item.ParticipantRole || "SYSTEM";
    const box = element("div", "bubble");
    const meta = element("div", "meta");
    meta.append(element("span", "who", own ? "You" : item.DisplayName || item.ParticipantRole || "System"),
      element("span", "when", timeOf(item)));
    row.append(meta, box);
    if (own) {
      const receipt = element("div", "receipt", "Sent");
      row.append(receipt);
      this.ownNodes.set(item.Id, receipt);
    }
    this.dom.log.append(row);
    return box;
  }

  showMessage(item) {
    const content = item.Content || "";
    if (item.ContentType === INTERACTIVE) {
      const template = parseJson(content);
      const box = this.bubble(item);
      box.classList.add("interactive");
      if (template && template.templateType) this.renderTemplate(box, template, item);
      else box.textContent = content;
      return;
    }
    const box = this.bubble(item);
    if (item.ContentType === "text/markdown") {
      box.innerHTML = renderMarkdown(content);  // escaped first: see renderMarkdown
    } else if (item.ContentType === INTERACTIVE_RESPONSE) {
      const answer = parseJson(content);
      const chosen = answer && answer.data && answer.data.content && answer.data.content.title;
      box.textContent = typeof chosen === "string" ? chosen : content;
      box.classList.add("answer");
    } else {
      box.textContent = content;
    }
  }

  // ListPicker, Panel, QuickReply, TimePicker, Carousel: buttons whose click goes back as an interactive.response.
  renderTemplate(box, template, item) {
    const kind = template.templateType;
    const content = (template.data && template.data.content) || {};
    const card = element("div", `template template-${kind.toLowerCase()}`);
    card.dataset.template = kind;
    const image = httpUrl(content.imageData);
    if (image) {
      const picture = element("img", "template-image");
      picture.src = image;
      picture.alt = content.imageDescription || "";
      card.append(picture);
    }
    card.append(element("div", "template-title", content.title || ""));
    if (content.subtitle) card.append(element("div", "template-subtitle", content.subtitle));
    const choices = element("div", "choices");
    card.append(choices);
    const answer = (chosen, button, scope) => this.answer(template, content, chosen, button, scope);
    if (kind === "Carousel") {
      choices.classList.add("carousel");
      for (const member of content.elements || []) {
        const inner = element("div", "carousel-card");
        choices.append(inner);
        this.renderTemplate(inner, member, item);
      }
    } else if (kind === "TimePicker") {
      for (const slot of content.timeslots || []) {
        const when = new Date(slot.date);
        const label = Number.isNaN(when.getTime()) ? String(slot.date)
          : when.toLocaleString([], { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
        const title = `${label} (${slot.duration} min)`;
        this.choice(choices, title, null, (button) => answer({ title, date: slot.date, duration: slot.duration }, button, card));
      }
    } else {
      for (const option of content.elements || []) {
        this.choice(choices, String(option.title || ""), option.subtitle, (button) => answer(option, button, card));
      }
    }
    box.append(card);
  }

  choice(parent, title, subtitle, onClick) {
    const button = element("button", "choice");
    button.type = "button";
    button.append(element("span", "choice-title", title));
    if (subtitle) button.append(element("span", "choice-subtitle", String(subtitle)));
    button.disabled = !this.canAnswer;
    button.addEventListener("click", () => onClick(button));
    parent.append(button);
  }

  async answer(template, content, chosen, button, card) {
    for (const other of card.querySelectorAll("button.choice")) other.disabled = true;
    button.classList.add("chosen");
    const selected = { ...chosen };
    const reply = {
      templateType: template.templateType,
      version: "1.0",
      data: {
        content: {
          title: String(chosen.title),
          selectedElement: selected,
          listTitle: content.title,
          ...(template.templateIdentifier ? { templateIdentifier: template.templateIdentifier } : {}),
        },
      },
    };
    try {
      await this.send(INTERACTIVE_RESPONSE, JSON.stringify(reply));
    } catch (error) {
      this.notice(`Could not send your choice: ${error.message}`, "error");
      for (const other of card.querySelectorAll("button.choice")) other.disabled = false;
      button.classList.remove("chosen");
    }
  }

  showAttachment(item) {
    const box = this.bubble(item);
    box.classList.add("attachment");
    for (const attachment of item.Attachments || []) {
      const link = element("button", "download", `${attachment.AttachmentName} ↓`);
      link.type = "button";
      link.title = "Download";
      link.addEventListener("click", () => this.download(attachment).catch(
        (error) => this.notice(`Download failed: ${error.message}`, "error")));
      box.append(link);
    }
  }

  showEvent(item, live) {
    const name = item.DisplayName || item.ParticipantRole || "Someone";
    if (item.ContentType === JOINED) this.notice(`${name} joined the chat`, "joined");
    else if (item.ContentType === LEFT) {
      this.notice(`${name} left the chat`, "left");
      this.hideTyping(item.ParticipantId);
      if (item.ParticipantId === this.me) this.left = true;  // a customer's leaving also ends the chat: chat.ended follows
    } else if (item.ContentType === CHAT_ENDED) {
      this.notice("Chat ended", "ended");
      this.finish("Chat ended");
    } else if (live && item.ContentType.startsWith(EVENT + "transfer.")) {
      this.notice("Transferring…", "event");
    }
  }

  notice(text, kind) {
    const row = element("div", `notice notice-${kind}`, text);
    this.dom.log.append(row);
    this.scroll();
  }

  finish(text) {
    if (this.ended) return;
    this.ended = true;
    this.status(text);
    this.dom.composer.hidden = true;
    this.dom.end.hidden = true;
    this.dom.typing.hidden = true;
    clearInterval(this.heartbeat);
    for (const button of this.dom.log.querySelectorAll("button.choice")) button.disabled = true;
    if (this.socket) this.socket.close();
  }

  // Typing: at most one event per throttle window; another's shows until their message or a timeout.
  typed() {
    const now = Date.now();
    if (this.ended || !this.connectionToken || now - this.lastTyping < TYPING_THROTTLE_MS) return;
    this.lastTyping = now;
    this.call("/participant/event", { ContentType: TYPING, ClientToken: clientToken() }).catch(() => {});
  }

  showTyping(item) {
    if (item.ParticipantId === this.me) return;
    const { typing } = this.dom;
    typing.textContent = `${item.DisplayName || "Someone"} is typing…`;
    typing.dataset.participant = item.ParticipantId;
    typing.hidden = false;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.hideTyping(item.ParticipantId), TYPING_SHOWN_MS);
  }

  hideTyping(participantId) {
    const { typing } = this.dom;
    if (!typing.hidden && typing.dataset.participant === participantId) typing.hidden = true;
  }

  // Receipts: delivered at once, read while the page is in view; shown on one's own messages.
  acknowledge(item) {
    if (this.ended || item.ParticipantRole === "SYSTEM" || this.receipted.has(item.Id)) return;
    this.receipted.add(item.Id);
    this.pendingRead = this.pendingRead || [];
    const content = JSON.stringify({ messageId: item.Id });
    this.call("/participant/event", { ContentType: DELIVERED, Content: content }).catch(() => {});
    this.pendingRead.push(content);
    this.readVisible();
  }

  readVisible() {
    if (document.visibilityState !== "visible" || !this.pendingRead) return;
    for (const content of this.pendingRead.splice(0)) {
      this.call("/participant/event", { ContentType: READ, Content: content }).catch(() => {});
    }
  }

  showReceipts(metadata) {
    if (!metadata) return;
    const node = this.ownNodes.get(metadata.MessageId);
    if (!node) return;
    const receipts = (metadata.Receipts || []).filter((r) => r.RecipientParticipantId !== this.me);
    if (receipts.some((r) => r.ReadTimestamp)) node.textContent = "Read";
    else if (receipts.some((r) => r.DeliveredTimestamp)) node.textContent = "Delivered";
    node.dataset.state = node.textContent.toLowerCase();
  }

  async sendText() {
    const text = this.dom.text.value.trim();
    if (!text || this.ended) return;
    this.dom.text.value = "";
    this.lastTyping = 0;  // the message clears the others' indicator, so the next keystroke announces typing again
    try {
      await this.send("text/plain", text);
    } catch (error) {
      this.dom.text.value = text;
      this.notice(`Not sent: ${error.message}`, "error");
    }
  }

  send(contentType, content) {
    return this.call("/participant/message", { ContentType: contentType, Content: content, ClientToken: clientToken() });
  }

  // StartAttachmentUpload, the PUT to the upload URL with its headers, then CompleteAttachmentUpload.
  async upload(file) {
    const start = await this.call("/participant/start-attachment-upload", {
      ContentType: file.type || "application/octet-stream",
      AttachmentSizeInBytes: file.size,
      AttachmentName: file.name,
      ClientToken: clientToken(),
    });
    const target = start.UploadMetadata;
    const put = await fetch(target.Url, { method: "PUT", headers: target.HeadersToInclude, body: file });
    if (!put.ok) throw new Error(`upload refused (${put.status})`);
    await this.call("/participant/complete-attachment-upload",
      { AttachmentIds: [start.AttachmentId], ClientToken: clientToken() });
  }

  async download(attachment) {
    const answer = await this.call("/participant/attachment", { AttachmentId: attachment.AttachmentId, UrlExpiryInSeconds: 60 });
    const link = element("a");
    link.href = answer.Url;
    link.download = attachment.AttachmentName;
    link.rel = "noopener";
    document.body.append(link);
    link.click();
    link.remove();
  }

  async leave() {
    try {
      await this.call("/participant/disconnect", { ClientToken: clientToken() });
    } catch (error) {
      this.notice(`Could not leave: ${error.message}`, "error");
    }
  }
}

export function viewElements() {
  const byId = (id) => document.getElementById(id);
  return {
    log: byId("log"), typing: byId("typing"), composer: byId("composer"), text: byId("text"),
    file: byId("file"), status: byId("status"), end: byId("end"),
  };
}
