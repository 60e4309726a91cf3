/**
 * The chat column's script (an asset: the Content-Security-Policy allows no inline script). Live:
 * one Socket.IO connection (WebSocket only) to the channel's room; it reconnects by itself and,
 * when the server could not replay what it missed, merges the history it is sent again (each
 * message once, in the order the server accepted them). Replay: the past broadcast's chat, shown
 * as the video reaches each message. Every message goes onto the page as text; mentions are
 * highlighted, and links are links only where the channel allows them.
 */
import {CHAT_TIMEOUTS} from '../contract/index.js'
import {asset} from '../web/assets.js'

export const chatJs = asset(
  '/assets/chat.js',
  'text/javascript; charset=utf-8',
  `(() => {
  const panel = document.getElementById('chat');
  if (!panel) return;
  const channel = panel.dataset.chatChannel;
  const replayUrl = panel.dataset.chatReplay;
  const log = document.getElementById('chat-log');
  const status = document.getElementById('chat-status');
  const form = document.getElementById('chat-form');
  const input = document.getElementById('chat-input');
  const loginNote = document.getElementById('chat-login');
  const cannot = document.getElementById('chat-cannot');
  const KEEP = 300;
  const TIMEOUTS = ${JSON.stringify(CHAT_TIMEOUTS)};
  const state = (window.shingChat = {connected: false, you: null, settings: {linksAllowed: true}, ids: new Set(), errors: []});

  function say(text) { status.textContent = text || ''; }
  function duration(s) { return s < 3600 ? s / 60 + ' min' : s < 86400 ? s / 3600 + ' h' : s / 86400 + ' d'; }

  // Links as people type them; only http(s) ever becomes an href.
  const LINK = /(https?:\\/\\/[^\\s<>"]+|www\\.[^\\s<>"]+)/gi;
  const MENTION = /(^|[^\\w@])@([A-Za-z0-9][A-Za-z0-9_-]{2,29})\\b/g;

  function appendText(into, text, links) {
    let last = 0;
    const parts = [];
    if (links) for (const m of text.matchAll(LINK)) parts.push({at: m.index, end: m.index + m[0].length, kind: 'link', value: m[0]});
    for (const m of text.matchAll(MENTION)) {
      const at = m.index + m[1].length;
      if (!parts.some((p) => at >= p.at && at < p.end)) parts.push({at, end: at + 1 + m[2].length, kind: 'mention', value: m[2]});
    }
    parts.sort((a, b) => a.at - b.at);
    for (const part of parts) {
      if (part.at < last) continue;
      into.append(document.createTextNode(text.slice(last, part.at)));
      if (part.kind === 'link') {
        const a = document.createElement('a');
        a.href = /^https?:/i.test(part.value) ? part.value : 'https://' + part.value;
        a.rel = 'nofollow ugc noopener noreferrer';
        a.target = '_blank';
        a.textContent = part.value;
        into.append(a);
      } else {
        const span = document.createElement('span');
        span.className = 'mention';
        span.textContent = '@' + part.value;
        into.append(span);
      }
      last = part.end;
    }
    into.append(document.createTextNode(text.slice(last)));
  }

  const BADGES = {owner: 'Streamer', moderator: 'Mod', staff: 'Staff'};
  function line(message) {
    const li = document.createElement('li');
    li.className = 'chat-line';
    li.dataset.id = message.id;
    li.dataset.at = message.at;
    li.dataset.user = message.user;
    if (message.badge) {
      const badge = document.createElement('span');
      badge.className = 'chat-badge ' + message.badge;
      badge.textContent = BADGES[message.badge] || message.badge;
      li.append(badge, ' ');
    }
    const name = document.createElement('span');
    // A colour of its own per name (the same everywhere), as avatars have.
    name.className = 'chat-user hue-' + ([...message.user].reduce((sum, c) => sum + c.codePointAt(0), 0) % 8);
    name.textContent = message.user;
    const text = document.createElement('span');
    text.className = 'chat-text';
    appendText(text, message.text, state.settings.linksAllowed !== false);
    li.append(name, document.createTextNode(': '), text);
    const me = state.you && state.you.user;
    if (me && message.user !== me && new RegExp('(^|[^\\\\w@])@' + me + '\\\\b', 'i').test(message.text)) li.classList.add('mentions-you');
    if (state.you && state.you.permissions.length > 0 && message.user !== me && message.badge !== 'owner') li.append(moderationMenu(message));
    return li;
  }

  function moderationMenu(message) {
    const can = state.you.permissions;
    const details = document.createElement('details');
    details.className = 'chat-mod';
    const summary = document.createElement('summary');
    summary.textContent = '⋯';
    summary.setAttribute('aria-label', 'Moderate ' + message.user);
    details.append(summary);
    const menu = document.createElement('div');
    menu.className = 'chat-mod-menu';
    const action = (label, request) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = label;
      button.addEventListener('click', () => { details.open = false; moderate(request); });
      menu.append(button);
    };
    if (can.includes('delete')) action('Delete message', {action: 'delete', messageId: message.id});
    if (can.includes('timeout')) {
      const row = document.createElement('div');
      row.className = 'chat-mod-timeouts';
      const label = document.createElement('span');
      label.textContent = 'Time out for';
      row.append(label);
      for (const seconds of TIMEOUTS) {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = duration(seconds);
        button.setAttribute('aria-label', 'Time out ' + message.user + ' for ' + duration(seconds));
        button.addEventListener('click', () => { details.open = false; moderate({action: 'timeout', user: message.user, seconds}); });
        row.append(button);
      }
      menu.append(row);
    }
    if (can.includes('ban')) action('Ban ' + message.user, {action: 'ban', user: message.user});
    details.append(menu);
    // The log scrolls: a menu opened on one of the last lines would open out of sight below it.
    details.addEventListener('toggle', () => { if (details.open) menu.scrollIntoView({block: 'nearest'}); });
    return details;
  }

  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  function trim() { while (log.children.length > KEEP) { state.ids.delete(log.firstElementChild.dataset.id); log.firstElementChild.remove(); } }

  /** Adds a message once, where its time puts it (messages from other web instances may cross). */
  function add(message) {
    if (state.ids.has(message.id)) return;
    state.ids.add(message.id);
    const follow = atBottom();
    const li = line(message);
    let before = null;
    for (let node = log.lastElementChild; node; node = node.previousElementSibling) {
      if (node.dataset.at < message.at || (node.dataset.at === message.at && node.dataset.id < message.id)) break;
      before = node;
    }
    log.insertBefore(li, before);
    trim();
    if (follow) log.scrollTop = log.scrollHeight;
  }

  function remove(ids) {
    for (const id of ids) {
      const li = log.querySelector('li[data-id="' + CSS.escape(id) + '"]');
      if (li) li.remove();
      state.ids.delete(id);
    }
  }

  if (replayUrl) return replay();

  function setYou(you) {
    state.you = you;
    const canWrite = you.user && !you.cannotWrite;
    loginNote.hidden = !!you.user;
    form.hidden = !canWrite;
    cannot.hidden = !you.user || !you.cannotWrite;
    // A time-out's end in the viewer's own time (the server words it in UTC).
    cannot.textContent = you.timedOutUntil ? 'You are timed out until ' + new Date(you.timedOutUntil).toLocaleTimeString() + '.' : you.cannotWrite || '';
    panel.dataset.you = you.user ? (you.cannotWrite ? 'cannot-write' : 'writer') : 'reader';
    const moderation = document.getElementById('chat-moderation');
    if (moderation) moderation.hidden = you.permissions.length === 0;
  }

  function rerender() {
    for (const li of [...log.children]) li.remove();
    const keep = state.history || [];
    state.ids.clear();
    for (const m of keep) add(m);
  }

  const socket = io({path: '/socket.io', transports: ['websocket'], auth: {channel}});
  state.socket = socket;
  say('Connecting to the chat…');
  socket.on('connect', () => { state.connected = true; say(''); });
  socket.on('disconnect', (reason) => {
    state.connected = false;
    say(reason === 'io client disconnect' ? 'Chat closed.' : 'Reconnecting to the chat…');
    // Closed by the server (it could not load the room, or this page sent too much): not retried by Socket.IO itself.
    if (reason === 'io server disconnect') setTimeout(() => socket.connect(), 5000);
  });
  socket.on('connect_error', (error) => {
    state.connected = false;
    state.errors.push(error.message);
    // Refused by the server itself (not a network error): it does not retry by itself.
    if (!socket.active) { say(error.message + ' Retrying in 10 s.'); setTimeout(() => socket.connect(), 10000); }
    else say('Reconnecting to the chat…');
  });
  socket.on('welcome', (welcome) => {
    const first = state.history === undefined;
    state.settings = welcome.settings;
    setYou(welcome.you);
    const seen = new Map((state.history || []).map((m) => [m.id, m]));
    for (const m of welcome.history) seen.set(m.id, m);
    state.history = [...seen.values()].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : 1)).slice(-KEEP);
    if (first || welcome.history.length > 0) rerender();
    log.scrollTop = log.scrollHeight;
  });
  socket.on('message', (message) => {
    (state.history = state.history || []).push(message);
    if (state.history.length > KEEP * 2) state.history = state.history.slice(-KEEP);
    add(message);
  });
  socket.on('deleted', ({ids}) => {
    const gone = new Set(ids);
    state.history = (state.history || []).filter((m) => !gone.has(m.id));
    remove(ids);
  });
  socket.on('you', (you) => { setYou(you); rerender(); say(''); });
  socket.on('settings', (settings) => { state.settings = settings; rerender(); });

  function moderate(request) {
    socket.timeout(10000).emit('moderate', request, (error, answer) => {
      if (error) return say('The chat did not answer: try again.');
      say(answer.ok ? 'Done.' : answer.error);
    });
  }

  /** /timeout name [seconds], /ban name, /unban name: moderation from the input, as streamers expect. */
  function command(text) {
    const [verb, user, seconds] = text.slice(1).trim().split(/\\s+/);
    if (verb === 'ban' && user) return moderate({action: 'ban', user}), true;
    if (verb === 'unban' && user) return moderate({action: 'unban', user}), true;
    if (verb === 'timeout' && user) {
      const s = seconds === undefined ? 600 : Number(seconds);
      if (!Number.isInteger(s) || s < 1) { say('Say how long in seconds: /timeout name 600'); return true; }
      return moderate({action: 'timeout', user, seconds: s}), true;
    }
    say('Commands: /timeout name [seconds], /ban name, /unban name.');
    return true;
  }

  let sending = false;
  function submit() {
    const text = input.value.trim();
    if (text === '' || sending) return;
    if (text.startsWith('/') && state.you && state.you.permissions.length > 0) { if (command(text)) input.value = ''; return; }
    if (!state.connected) { say('Not connected: your message stays here until the chat is back.'); return; }
    sending = true;
    socket.timeout(10000).emit('send', text, (error, answer) => {
      sending = false;
      // Nothing is lost: the text stays in the box unless the server took it.
      if (error) return say('The chat did not answer: your message was not sent. Try again.');
      if (!answer.ok) return say(answer.error);
      input.value = '';
      say('');
    });
  }
  form.addEventListener('submit', (event) => { event.preventDefault(); submit(); });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) { event.preventDefault(); submit(); }
  });

  function replay() {
    const video = document.getElementById('video');
    let messages = [];
    let shown = 0;
    say('Loading the chat…');
    fetch(replayUrl, {headers: {accept: 'application/json'}})
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.status))))
      .then((body) => {
        messages = body.messages;
        say(messages.length === 0 ? 'Nobody chatted during this broadcast.' : '');
        sync();
      })
      .catch(() => say('The chat of this broadcast could not be loaded.'));
    function sync() {
      const t = video ? video.currentTime : Infinity;
      let until = 0;
      while (until < messages.length && messages[until].offsetSeconds <= t) until++;
      if (until < shown) {
        for (const li of [...log.children]) li.remove();
        state.ids.clear();
        shown = 0;
      }
      for (; shown < until; shown++) add(messages[shown]);
    }
    if (video) for (const event of ['timeupdate', 'seeked', 'play']) video.addEventListener(event, sync);
  }
})();
`,
)
