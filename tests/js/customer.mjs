// amazon-connect-chatjs, unchanged, as the CUSTOMER of a chat on the botkit emulator.
//
//   node customer.mjs EMULATOR_URL [CHAT_DETAILS_JSON] [--timeout=SECONDS] [--message=TEXT]
//                     [--reply-role=AGENT|CUSTOM_BOT] [--reply=TEXT]
//
// CHAT_DETAILS_JSON is StartChatContact's answer ({"ContactId","ParticipantId","ParticipantToken"});
// without it the script reads it from stdin. The script connects, loads the transcript the way apps
// do (BACKWARD / ASCENDING), sends a message, waits for the agent's reply, sends typing, waits for
// the agent's typing, disconnects and waits for chat.ended. Every observed event is one JSON line on
// stdout ({"event": ..., ...}); chatjs's own logs go to stderr. Exit 0 once chat.ended is seen;
// exit 1 with a message on stderr (and an {"event":"error"} line) on any failure or on timeout.

import { createRequire } from "node:module";
import process from "node:process";

const require = createRequire(import.meta.url);

// ---- output -----------------------------------------------------------------------------------

const emit = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
const stderr = (...parts) =>
    process.stderr.write(parts.map((p) => (typeof p === "string" ? p : safeJson(p))).join(" ") + "\n");

function safeJson(value) {
    try {
        return JSON.stringify(value);
    } catch {
        return String(value);
    }
}

function fail(message, cause) {
    const detail = cause === undefined ? "" : `: ${describe(cause)}`;
    emit("error", { message: `${message}${detail}` });
    stderr(`customer.mjs: ${message}${detail}`);
    process.exit(1);
}

function describe(error) {
    if (error instanceof Error) return `${error.name}: ${error.message}`;
    // chatjs rejects with {reason?, _debug: {reason?, _debug: <SDK error>}}: name the service error.
    const reasons = [];
    let cause = error;
    while (cause && typeof cause === "object" && "_debug" in cause) {
        if (cause.reason) reasons.push(cause.reason);
        cause = cause._debug;
    }
    if (cause && typeof cause === "object" && (cause.type || cause.name || cause.statusCode)) {
        const status = cause.statusCode ?? cause.$metadata?.httpStatusCode;
        const what = `${cause.type || cause.name}${status ? ` (HTTP ${status})` : ""}: ${cause.message}`;
        return [...reasons, what].join(": ");
    }
    return safeJson(error);
}

// Keep stdout for our JSON lines only: anything chatjs or its websocket manager prints goes to stderr.
for (const level of ["log", "info", "debug", "warn", "error", "trace"]) {
    console[level] = (...args) => stderr(`[console.${level}]`, ...args);
}

// ---- arguments --------------------------------------------------------------------------------

const positional = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const options = Object.fromEntries(
    process.argv
        .slice(2)
        .filter((a) => a.startsWith("--"))
        .map((a) => {
            const [key, ...rest] = a.slice(2).split("=");
            return [key, rest.join("=")];
        }),
);
const baseUrl = (positional[0] || "").replace(/\/+$/, "");
if (!/^https?:\/\/[^/]+$/.test(baseUrl)) {
    fail(`usage: node customer.mjs http://127.0.0.1:PORT [CHAT_DETAILS_JSON] (got ${safeJson(positional[0])})`);
}
const timeoutSeconds = Number(options.timeout || 20);
const messageText = options.message || "Hello from chatjs";
// Who answers (the agent by default, or a bot), and, if given, the exact reply to wait for: a bot may say other
// things first.
const replyRole = options["reply-role"] || "AGENT";
const expectedReply = options.reply;

async function readChatDetails() {
    let text = positional[1];
    if (text === undefined) {
        const chunks = [];
        for await (const chunk of process.stdin) chunks.push(chunk);
        text = Buffer.concat(chunks).toString("utf8");
    }
    let details;
    try {
        details = JSON.parse(text);
    } catch (error) {
        fail("chat details are not JSON", error);
    }
    for (const key of ["ContactId", "ParticipantId", "ParticipantToken"]) {
        if (typeof details?.[key] !== "string" || !details[key]) fail(`chat details lack ${key}`);
    }
    return details;
}

// ---- one overall deadline, and waiting for events ---------------------------------------------

const deadline = Date.now() + timeoutSeconds * 1000;
const watchdog = setTimeout(
    () => fail(`timed out after ${timeoutSeconds} s while ${currentStep}`),
    timeoutSeconds * 1000,
);
let currentStep = "starting";

const waiters = [];
const seen = [];

function observe(kind, data) {
    seen.push({ kind, data });
    for (const waiter of [...waiters]) {
        if (waiter.kind === kind && waiter.matches(data)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(data);
        }
    }
}

/** The first event of this kind matching the predicate, already seen or still to come. */
function waitFor(kind, matches, step) {
    currentStep = step;
    const earlier = seen.find((s) => s.kind === kind && matches(s.data));
    if (earlier) return Promise.resolve(earlier.data);
    return new Promise((resolve) => waiters.push({ kind, matches, resolve }));
}

async function step(description, promise) {
    currentStep = description;
    try {
        return await promise;
    } catch (error) {
        fail(`${description} failed`, error);
    }
}

// ---- chatjs in Node ---------------------------------------------------------------------------

globalThis.self = globalThis.window = globalThis;
Object.defineProperty(globalThis, "navigator", { value: { onLine: true }, configurable: true, writable: true });
globalThis.WebSocket = require("ws");
require("amazon-connect-chatjs");
const { ChatSession } = globalThis.connect;
const chatjsVersion = globalThis.connect.ChatJS?.version;

// chatjs's log goes to stderr; --log-level=DEBUG|INFO|WARN|ERROR (or CHATJS_LOG_LEVEL) picks how much.
const levelName = (options["log-level"] || process.env.CHATJS_LOG_LEVEL || "WARN").toUpperCase();
const chatjsLogger = Object.fromEntries(
    ["debug", "info", "warn", "error"].map((level) => [level, (...args) => stderr(`[chatjs ${level}]`, ...args)]),
);
// chatjs only calls debug() at DEBUG; its "advanced" log (every websocket step) is written through
// debug() as well, so keep it quiet unless asked.
if (!["DEBUG", "INFO"].includes(levelName)) chatjsLogger.debug = () => {};

async function main() {
    const details = await readChatDetails();
    const info = await step("reading /emulator/info", fetch(`${baseUrl}/emulator/info`).then((r) => r.json()));

    ChatSession.setGlobalConfig({
        region: info.region,
        endpoint: baseUrl,
        loggerConfig: {
            customizedLogger: chatjsLogger,
            advancedLogWriter: "debug",
            level: ChatSession.LogLevel[levelName] ?? ChatSession.LogLevel.WARN,
        },
        webSocketManagerConfig: { isNetworkOnline: () => true },
    });
    const session = ChatSession.create({
        chatDetails: {
            ContactId: details.ContactId,
            ParticipantId: details.ParticipantId,
            ParticipantToken: details.ParticipantToken,
        },
        options: { region: info.region },
        type: ChatSession.SessionTypes.CUSTOMER,
        disableCSM: true,
    });
    if (!session) fail("ChatSession.create returned nothing (see chatjs's log on stderr)");
    emit("created", { chatjsVersion, contactId: details.ContactId, participantId: details.ParticipantId });

    const me = details.ParticipantId;
    const fromOthers = (item) => item?.ParticipantId !== me;
    // chatjs fires onConnectionEstablished twice on a first connect: once when connect() succeeds
    // (the event carries connectSuccess) and once when the websocket is up (the event carries data).
    session.onConnectionEstablished((event) => {
        const source = event?.connectSuccess === true ? "connect" : "websocket";
        emit("connectionEstablished", { source });
        observe("connectionEstablished", { source });
    });
    session.onConnectionLost(() => emit("connectionLost"));
    session.onConnectionBroken(() => emit("connectionBroken"));
    session.onMessage((event) => {
        emit("message", { data: event.data });
        observe("message", event.data);
    });
    session.onTyping((event) => {
        emit("typing", { data: event.data });
        observe("typing", event.data);
    });
    session.onReadReceipt((event) => emit("readReceipt", { data: event.data }));
    session.onDeliveredReceipt((event) => emit("deliveredReceipt", { data: event.data }));
    session.onEnded((event) => {
        emit("ended", { data: event.data ?? null });
        observe("ended", {});
    });

    const connected = await step("connecting", session.connect());
    emit("connected", { connectSuccess: connected?.connectSuccess === true });
    if (connected?.connectSuccess !== true) fail("connect() did not report success", connected);
    await waitFor("connectionEstablished", (e) => e.source === "websocket", "waiting for the websocket (onConnectionEstablished)");

    const transcript = await step(
        "loading the transcript",
        session.getTranscript({ scanDirection: "BACKWARD", sortOrder: "ASCENDING", maxResults: 15 }),
    );
    const items = transcript?.data?.Transcript;
    if (!Array.isArray(items)) fail("getTranscript returned no Transcript", transcript);
    emit("transcript", {
        initialContactId: transcript.data.InitialContactId ?? null,
        nextToken: transcript.data.NextToken ?? null,
        items,
    });

    const sent = await step(
        "sending the message",
        session.sendMessage({ contentType: "text/plain", message: messageText }),
    );
    const sentId = sent?.data?.Id;
    if (!sentId) fail("sendMessage returned no Id", sent);
    emit("messageSent", { id: sentId, absoluteTime: sent.data.AbsoluteTime ?? null, content: messageText });

    const reply = await waitFor(
        "message",
        (item) =>
            item.Type === "MESSAGE" &&
            item.ParticipantRole === replyRole &&
            fromOthers(item) &&
            (expectedReply === undefined || item.Content === expectedReply),
        "waiting for the agent's reply",
    );
    emit("agentReply", { id: reply.Id, content: reply.Content });

    await step(
        "sending typing",
        session.sendEvent({ contentType: "application/vnd.amazonaws.connect.event.typing" }),
    );
    emit("typingSent");

    const typing = await waitFor(
        "typing",
        (item) => item.ParticipantRole === replyRole && fromOthers(item),
        "waiting for the agent's typing",
    );
    emit("agentTyping", { id: typing.Id });

    await step("disconnecting", session.disconnectParticipant());
    emit("disconnected");

    await waitFor("ended", () => true, "waiting for chat.ended (onEnded)");
    clearTimeout(watchdog);
    emit("done", { seconds: Math.round((timeoutSeconds * 1000 - (deadline - Date.now())) / 100) / 10 });
    // chatjs keeps timers (receipts, token refresh) alive; the run is over.
    process.exit(0);
}

process.on("unhandledRejection", (reason) => fail("unhandled rejection", reason));
process.on("uncaughtException", (error) => fail("uncaught exception", error));
main().catch((error) => fail(`failed while ${currentStep}`, error));
