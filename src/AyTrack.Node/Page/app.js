// AyTrack's settings and status page. Plain JavaScript, no build step: every call goes to the same admin API the CLI
// uses, with the token as a bearer header (kept in this tab's sessionStorage, never in a URL or a cookie). Everything
// a server or a client sent is shown with textContent, never as HTML.
'use strict';

const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const TOKEN_KEY = 'aytrack.token';
const state = { token: sessionStorage.getItem(TOKEN_KEY), settings: null, etag: null, pollTimer: null, view: 'settings' };

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'text') node.textContent = value;
    else if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, '');
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of [].concat(children)) node.append(child);
  return node;
}

function time(value) {
  if (!value) return '';
  const date = new Date(value);
  return isNaN(date) ? String(value) : date.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

class Unauthorized extends Error {}

async function api(method, path, body, headers = {}) {
  const init = { method, headers: { Authorization: 'Bearer ' + state.token, 'X-AyTrack-Client': 'aytrack-page', ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!init.headers['Content-Type']) init.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    signOut('The token was not accepted (or no longer is); sign in again.');
    throw new Unauthorized();
  }
  return response;
}

async function problemText(response) {
  try {
    const problem = await response.json();
    if (problem.errors) return Object.entries(problem.errors).map(([k, v]) => `${k}: ${[].concat(v).join(', ')}`).join('; ');
    return problem.detail || problem.title || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

// ---- sign-in and views ------------------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  stopPolling();
  $('#nav').hidden = true;
  for (const section of $$('main > section')) section.hidden = section.id !== 'signin-view';
  $('#signin-error').textContent = message || '';
  $('#token').value = '';
  $('#token').focus();
}

async function signIn(event) {
  event.preventDefault();
  state.token = $('#token').value.trim();
  $('#signin-error').textContent = '';
  try {
    const response = await api('GET', '/api/settings');
    if (!response.ok) throw new Error(await problemText(response));
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $('#token').value = '';
    $('#nav').hidden = false;
    await show('settings');
  } catch (error) {
    if (!(error instanceof Unauthorized)) $('#signin-error').textContent = 'The node did not answer: ' + error.message;
  }
}

async function show(view) {
  state.view = view;
  stopPolling();
  for (const section of $$('main > section')) section.hidden = section.id !== view + '-view';
  for (const button of $$('#nav [data-view]')) {
    if (button.dataset.view === view) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  try {
    if (view === 'settings') await loadSettings();
    if (view === 'queues') await loadQueues();
    if (view === 'cluster') await loadCluster();
    if (view === 'sites') await loadSites();
    if (view === 'deliveries') { await loadDeliveries(); state.pollTimer = setInterval(() => loadDeliveries().catch(() => {}), 2000); }
  } catch (error) {
    if (!(error instanceof Unauthorized)) throw error;
  }
}

function stopPolling() {
  if (state.pollTimer) clearInterval(state.pollTimer);
  state.pollTimer = null;
}

// ---- settings ---------------------------------------------------------------------------------------------------

async function loadSettings() {
  const response = await api('GET', '/api/settings');
  if (!response.ok) { $('#other-errors').textContent = await problemText(response); return; }
  state.etag = response.headers.get('ETag');
  state.settings = await response.json();
  fillForm(state.settings);
  clearErrors();
  $('#conflict').hidden = true;
  $('#save-status').textContent = '';
  markChanges();
  await loadCertificates();
}

function fillForm(s) {
  const form = $('#settings');
  for (const radio of $$('input[name="mode"]', form)) radio.checked = radio.value === s.mode;
  $('#relay-host').value = s.relay.host || '';
  $('#relay-port').value = s.relay.port;
  for (const radio of $$('input[name="relay.tls"]', form)) radio.checked = radio.value === s.relay.tls;
  $('#relay-requiresauth').checked = !!s.relay.requiresAuth;
  $('#relay-username').value = s.relay.username || '';
  $('#relay-password').value = '';
  $('#relay-password-clear').checked = false;
  $('#password-state').textContent = s.relay.passwordSet ? 'A password is set (it is never shown).' : 'No password is set.';
  $('#timing-threads').value = s.timing.threads;
  $('#timing-maxload').value = s.timing.maxLoadPerHour;
  $('#timing-retrydays').value = s.timing.retryDays;
  $('#timing-delaywarning').value = s.timing.delayWarningHours;
  fillTimeZones(s.timing.schedule.timeZone);
  $('#windows').replaceChildren(...s.timing.schedule.windows.map(windowRow));
  authFields();
}

function fillTimeZones(current) {
  const select = $('#timing-timezone');
  const zones = new Set(['UTC', current]);
  try { for (const zone of Intl.supportedValuesOf('timeZone')) zones.add(zone); } catch { /* older browsers: the current zone and UTC */ }
  select.replaceChildren(...[...zones].filter(Boolean).sort().map(zone => el('option', { value: zone, text: zone })));
  select.value = current;
}

function windowRow(w) {
  const id = 'w' + Math.random().toString(36).slice(2, 8);
  const row = el('div', { class: 'window' });
  const days = el('fieldset', {}, [el('legend', { text: 'Days' })]);
  for (const day of DAYS) {
    days.append(el('label', { class: 'choice' }, [el('input', { type: 'checkbox', value: day, checked: (w.days || []).includes(day) }), ' ' + day]));
  }
  row.append(days,
    el('label', { for: id + '-start', text: 'from' }), el('input', { id: id + '-start', type: 'time', class: 'start', value: w.start || '08:00' }),
    el('label', { for: id + '-end', text: 'to' }), el('input', { id: id + '-end', type: 'time', class: 'end', value: w.end || '18:00' }),
    el('button', { type: 'button', text: 'Remove', onclick: () => { row.remove(); markChanges(); } }));
  return row;
}

function authFields() {
  const on = $('#relay-requiresauth').checked;
  for (const id of ['#relay-username', '#relay-password', '#relay-password-clear']) $(id).disabled = !on;
}

function number(selector) {
  const text = $(selector).value.trim();
  return text === '' ? null : Number(text);
}

/** The form as a settings document (without the password, which is write-only). */
function formDocument() {
  const form = $('#settings');
  return {
    mode: ($('input[name="mode"]:checked', form) || {}).value,
    relay: {
      host: $('#relay-host').value.trim(),
      port: number('#relay-port'),
      tls: ($('input[name="relay.tls"]:checked', form) || {}).value,
      requiresAuth: $('#relay-requiresauth').checked,
      username: $('#relay-username').value,
    },
    timing: {
      threads: number('#timing-threads'),
      maxLoadPerHour: number('#timing-maxload'),
      retryDays: number('#timing-retrydays'),
      delayWarningHours: number('#timing-delaywarning'),
      schedule: {
        timeZone: $('#timing-timezone').value,
        windows: $$('#windows .window').map(row => ({
          days: $$('input[type=checkbox]:checked', row).map(box => box.value),
          start: $('.start', row).value,
          end: $('.end', row).value,
        })),
      },
    },
  };
}

/** A JSON merge patch (RFC 7396) of what the form changed; the schedule is sent whole when any part of it changed. */
function mergePatch() {
  const now = formDocument();
  const was = state.settings;
  const patch = {};
  const set = (section, key, value, before) => {
    if (JSON.stringify(value) !== JSON.stringify(before)) {
      if (section) (patch[section] ??= {})[key] = value; else patch[key] = value;
    }
  };
  set(null, 'mode', now.mode, was.mode);
  for (const key of ['host', 'port', 'tls', 'requiresAuth', 'username']) set('relay', key, now.relay[key], was.relay[key]);
  for (const key of ['threads', 'maxLoadPerHour', 'retryDays', 'delayWarningHours', 'schedule']) set('timing', key, now.timing[key], was.timing[key]);
  const password = $('#relay-password').value;
  if ($('#relay-password-clear').checked) (patch.relay ??= {}).password = null;
  else if (password !== '') (patch.relay ??= {}).password = password;
  return patch;
}

function changedPaths(patch) {
  const paths = [];
  for (const [key, value] of Object.entries(patch)) {
    if (value && typeof value === 'object' && !Array.isArray(value) && key !== 'schedule') {
      for (const inner of Object.keys(value)) paths.push(key === 'timing' && inner === 'schedule' ? 'timing.schedule' : `${key}.${inner}`);
    } else paths.push(key);
  }
  return paths;
}

function markChanges() {
  if (!state.settings) return;
  const paths = changedPaths(mergePatch());
  $('#unsaved').hidden = paths.length === 0;
  for (const field of $$('#settings [data-path]')) {
    const path = field.dataset.path;
    field.classList.toggle('changed', paths.some(p => p === path || path.startsWith(p + '.')));
  }
}

function clearErrors() {
  for (const error of $$('#settings [data-error]')) error.textContent = '';
  for (const field of $$('#settings .field.invalid')) field.classList.remove('invalid');
  $('#other-errors').textContent = '';
}

function showErrors(errors) {
  clearErrors();
  const other = [];
  for (const [path, messages] of Object.entries(errors)) {
    const text = [].concat(messages).join(', ');
    // timing.schedule.windows[0].start is shown beside the windows; relay.port beside the port.
    const target = $$('#settings [data-error]').map(e => e.dataset.error).filter(p => path === p || path.startsWith(p + '.') || path.startsWith(p + '['))
      .sort((a, b) => b.length - a.length)[0];
    if (target) {
      const box = $(`#settings [data-error="${target}"]`);
      box.textContent = (box.textContent ? box.textContent + '; ' : '') + (path === target ? text : `${path}: ${text}`);
      box.closest('.field').classList.add('invalid');
    } else other.push(`${path}: ${text}`);
  }
  $('#other-errors').textContent = other.join('; ');
  const first = $('#settings .field.invalid input, #settings .field.invalid select');
  if (first) first.focus();
}

async function save(event) {
  event.preventDefault();
  const patch = mergePatch();
  if (Object.keys(patch).length === 0) { $('#save-status').textContent = 'Nothing to save.'; return; }
  $('#save-status').textContent = 'Saving…';
  const response = await api('PATCH', '/api/settings', JSON.stringify(patch),
    { 'Content-Type': 'application/merge-patch+json', 'If-Match': state.etag });
  if (response.status === 412) {
    $('#save-status').textContent = '';
    $('#conflict').hidden = false;
    $('#reload').focus();
    return;
  }
  if (response.status === 400) {
    const problem = await response.json();
    $('#save-status').textContent = 'Not saved: see the fields marked below.';
    showErrors(problem.errors || {});
    return;
  }
  if (!response.ok) { $('#save-status').textContent = 'Not saved: ' + await problemText(response); return; }
  state.etag = response.headers.get('ETag');
  state.settings = await response.json();
  fillForm(state.settings);
  clearErrors();
  markChanges();
  $('#save-status').textContent = 'Saved.';
}

function proposePort(event) {
  // Choosing SSL Connect proposes 465 and STARTTLS 587 (RFC 8314), unless the port was set to something else.
  const port = $('#relay-port');
  const usual = ['', '25', '465', '587'];
  if (!usual.includes(port.value.trim())) return;
  if (event.target.value === 'SslOnConnect') port.value = '465';
  if (event.target.value === 'StartTls') port.value = '587';
}

async function suggest() {
  const box = $('#suggestions');
  box.replaceChildren(el('p', { class: 'hint', text: 'Looking for the SMTP server in this machine\'s mail-client settings…' }));
  const email = $('#relay-username').value.includes('@') ? '?email=' + encodeURIComponent($('#relay-username').value) : '';
  const response = await api('GET', '/api/settings/suggest' + email);
  if (!response.ok) { box.replaceChildren(el('p', { class: 'error', text: await problemText(response) })); return; }
  const candidates = await response.json();
  if (candidates.length === 0) { box.replaceChildren(el('p', { class: 'hint', text: 'No SMTP server found in the mail-client settings.' })); return; }
  box.replaceChildren(el('p', { class: 'hint', text: 'Found (click one to fill server, port and SSL):' }), ...candidates.map(c =>
    el('button', {
      type: 'button', class: 'candidate',
      text: `${c.host}:${c.port} (${c.tls}) — from ${c.sources.join(', ')}`,
      onclick: () => {
        $('#relay-host').value = c.host;
        $('#relay-port').value = c.port;
        for (const radio of $$('input[name="relay.tls"]')) radio.checked = radio.value === c.tls;
        box.replaceChildren();
        markChanges();
      },
    })));
}

// ---- trusted certificates ---------------------------------------------------------------------------------------

async function loadCertificates() {
  const response = await api('GET', '/api/certs');
  if (!response.ok) return;
  const certificates = await response.json();
  $('#certs tbody').replaceChildren(...certificates.map(c => el('tr', {}, [
    el('td', { text: c.kind }), el('td', { text: c.subject }), el('td', { text: c.issuer || '' }), el('td', { class: 'mono', text: c.sha256 }),
    el('td', { text: time(c.notAfter) }),
    el('td', {}, el('button', {
      type: 'button', text: 'Remove', 'aria-label': `Remove ${c.subject}`,
      onclick: async () => {
        if (!confirm(`Stop trusting ${c.subject}?`)) return;
        const removed = await api('DELETE', '/api/certs/' + encodeURIComponent(c.sha256));
        $('#cert-error').textContent = removed.ok ? '' : await problemText(removed);
        await loadSettings();
      },
    })),
  ])));
}

async function addCertificate() {
  const response = await api('POST', '/api/certs', { pem: $('#cert-pem').value, kind: $('#cert-kind').value });
  if (!response.ok) { $('#cert-error').textContent = await problemText(response); return; }
  $('#cert-error').textContent = '';
  $('#cert-pem').value = '';
  await loadSettings();
}

async function showRefused() {
  $('#refused-none').textContent = '';
  const response = await api('GET', '/api/certs/last-refused');
  if (response.status === 404) { $('#refused-none').textContent = 'This node has refused no certificate of the external server since it started.'; return; }
  if (!response.ok) { $('#refused-none').textContent = await problemText(response); return; }
  const refused = await response.json();
  state.refused = refused;
  const rows = [['Server', refused.host], ['Refused', `${time(refused.refusedAt)} (${refused.problem})`], ['Subject', refused.subject],
    ['Issuer', refused.issuer], ['SHA-256', refused.sha256], ['Valid', `${time(refused.notBefore)} to ${time(refused.notAfter)}`]];
  $('#refused-details').replaceChildren(...rows.flatMap(([term, value]) => [el('dt', { text: term }), el('dd', { text: value })]));
  $('#refused').hidden = false;
  $('#refused-pin').focus();
}

async function pinRefused() {
  const response = await api('POST', '/api/certs', { pem: state.refused.pem, kind: 'Pinned' });
  $('#refused').hidden = true;
  $('#refused-none').textContent = response.ok ? `Pinned: ${state.refused.subject}.` : await problemText(response);
  await loadCertificates();
}

// ---- queues -----------------------------------------------------------------------------------------------------

async function act(path, action, what) {
  if ((action === 'delete' || action === 'bounce') &&
      !confirm(action === 'delete' ? `Delete ${what}? It is dropped without delivery or a DSN.` : `Bounce ${what}? The sender gets a DSN now.`)) return;
  const response = await api('POST', path + '/' + action);
  $('#queues-error').textContent = response.ok ? '' : await problemText(response);
  await loadQueues();
}

function actionButtons(path, what) {
  return ['retry', 'hold', 'release', 'delete', 'bounce'].map(action =>
    el('button', { type: 'button', text: action, 'aria-label': `${action} ${what}`, onclick: () => act(path, action, what) }));
}

async function loadQueues() {
  const response = await api('GET', '/api/queues');
  if (!response.ok) { $('#queues-error').textContent = await problemText(response); return; }
  const view = await response.json();
  $('#queues-summary').textContent = `${view.domains.length} domain(s) with queued mail; ${view.undispatched} recipient(s) accepted and not yet handed to their domain.`;
  $('#queues tbody').replaceChildren(...view.domains.map(d => el('tr', { 'data-domain': d.domain }, [
    el('td', {}, el('button', { type: 'button', class: 'link', text: d.domain, 'aria-label': `Messages of ${d.domain}`, onclick: () => loadMessages(d.domain) })),
    el('td', { text: d.pending }), el('td', { text: d.deferred }), el('td', { text: d.held }), el('td', { text: d.bouncing }),
    el('td', { text: time(d.oldest) }), el('td', { text: time(d.nextAttempt) }),
    el('td', { text: [d.lastCategory, d.lastError].filter(Boolean).join(': ') }),
    el('td', {}, actionButtons('/api/queues/' + encodeURIComponent(d.domain), d.domain)),
  ])));
  if (state.messagesOf) await loadMessages(state.messagesOf);
}

async function loadMessages(domain) {
  state.messagesOf = domain;
  const response = await api('GET', `/api/queues/${encodeURIComponent(domain)}/messages?limit=200`);
  if (!response.ok) { $('#queues-error').textContent = await problemText(response); return; }
  const list = await response.json();
  $('#messages').hidden = false;
  $('#messages-title').textContent = `Messages for ${domain}: ${list.total}` + (list.total > list.messages.length ? ` (the oldest ${list.messages.length} shown)` : '');
  $('#message-list tbody').replaceChildren(...list.messages.flatMap(m => m.recipients.map((r, i) => el('tr', {}, [
    el('td', { class: 'mono', text: i === 0 ? m.id : '' }), el('td', { text: i === 0 ? time(m.arrivedAt) : '' }), el('td', { text: r.address }),
    el('td', { text: r.held ? r.state + ' (held)' : r.state }), el('td', { text: r.attempts }), el('td', { text: time(r.nextAttempt) }),
    el('td', { text: [r.category, r.lastReply].filter(Boolean).join(': ') }),
    el('td', {}, i === 0 ? actionButtons('/api/messages/' + encodeURIComponent(m.id), 'message ' + m.id) : []),
  ]))));
}

// ---- destination sites ------------------------------------------------------------------------------------------

async function loadSites() {
  const response = await api('GET', '/api/sites');
  if (!response.ok) { $('#sites-error').textContent = await problemText(response); return; }
  const view = await response.json();
  $('#sites tbody').replaceChildren(...view.sites.map(s => el('tr', { 'data-site': s.site }, [
    el('td', { class: 'mono', text: s.site }),
    el('td', { text: s.domains.length > 3 ? `${s.domains.slice(0, 3).join(', ')} and ${s.domains.length - 3} more` : s.domains.join(', ') }),
    el('td', { text: `${s.open} (${s.idle})` }), el('td', { text: s.limit }), el('td', { text: s.limitReason }), el('td', { text: s.rate || '' }),
    el('td', { text: s.suspendedUntil ? `${time(s.suspendedUntil)}: ${s.suspendedBecause}` : '' }),
    el('td', {}, s.suspendedUntil
      ? el('button', { type: 'button', text: 'resume', 'aria-label': `resume ${s.site}`, onclick: () => siteAction(s.site, 'resume') })
      : el('button', { type: 'button', text: 'suspend', 'aria-label': `suspend ${s.site}`, onclick: () => siteAction(s.site, 'suspend') })),
  ])));
}

async function siteAction(site, action) {
  const body = action === 'suspend' ? { for: $('#suspend-duration').value, reason: $('#suspend-reason').value.trim() || null } : {};
  if (action === 'suspend' && !confirm(`Suspend ${site} for ${body.for} on every node? Its mail waits until then.`)) return;
  const response = await api('POST', `/api/sites/${encodeURIComponent(site)}/${action}`, body);
  $('#sites-error').textContent = response.ok ? '' : await problemText(response);
  await loadSites();
}

// ---- cluster and threads ----------------------------------------------------------------------------------------

async function loadCluster() {
  const [cluster, threads] = await Promise.all([api('GET', '/api/cluster'), api('GET', '/api/threads')]);
  if (cluster.ok) {
    const view = await cluster.json();
    $('#members tbody').replaceChildren(...view.members.map(m => el('tr', {}, [
      el('td', { class: 'mono', text: m.address + (m.self ? ' (this node)' : '') + (m.address === view.leader ? ' (leader)' : '') }),
      el('td', { text: m.status }), el('td', { text: m.roles.join(', ') }), el('td', { text: m.reachable ? 'yes' : 'no' }), el('td', { text: m.shards }),
    ])));
  }
  if (threads.ok) {
    const nodes = await threads.json();
    $('#threads tbody').replaceChildren(...nodes.map(n => el('tr', { 'data-node': n.node }, [
      el('td', { class: 'mono', text: n.node }), el('td', { class: 'routees', text: n.routees }), el('td', { text: n.setting }),
      el('td', { text: n.override ?? '' }),
    ])));
    const select = $('#resize-node');
    const chosen = select.value;
    select.replaceChildren(el('option', { value: '', text: 'every node (timing.threads)' }), ...nodes.map(n => el('option', { value: n.node, text: n.node })));
    select.value = chosen;
  }
}

async function resize(event) {
  event.preventDefault();
  const body = { size: number('#resize-size') };
  if ($('#resize-node').value) body.node = $('#resize-node').value;
  const response = await api('POST', '/api/threads', body);
  $('#resize-error').textContent = response.ok ? '' : await problemText(response);
  await loadCluster();
}

// ---- recent deliveries (polled: EventSource cannot send the bearer header) -------------------------------------

async function loadDeliveries() {
  const query = new URLSearchParams({ limit: '50' });
  if ($('#filter-domain').value.trim()) query.set('domain', $('#filter-domain').value.trim());
  if ($('#filter-outcome').value) query.set('outcome', $('#filter-outcome').value);
  const response = await api('GET', '/api/deliveries?' + query);
  if (!response.ok) { $('#deliveries-error').textContent = await problemText(response); return; }
  $('#deliveries-error').textContent = '';
  const lines = await response.json();
  $('#deliveries tbody').replaceChildren(...lines.map(l => el('tr', {}, [
    el('td', { text: time(l.time) }), el('td', { text: l.outcome }), el('td', { text: l.outcome === 'site' ? l.site : l.recipient }), el('td', { text: l.route || '' }),
    el('td', { text: l.mxHost || '' }), el('td', { text: l.category || '' }), el('td', { text: l.reply }),
  ])));
}

// ---- wiring -----------------------------------------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  $('#signin').addEventListener('submit', signIn);
  $('#signout').addEventListener('click', () => signOut(''));
  for (const button of $$('#nav [data-view]')) button.addEventListener('click', () => show(button.dataset.view));
  $('#settings').addEventListener('submit', save);
  $('#settings').addEventListener('input', markChanges);
  $('#settings').addEventListener('change', markChanges);
  for (const radio of $$('input[name="relay.tls"]')) radio.addEventListener('change', proposePort);
  $('#relay-requiresauth').addEventListener('change', authFields);
  $('#suggest').addEventListener('click', suggest);
  $('#cert-add').addEventListener('click', addCertificate);
  $('#refused-show').addEventListener('click', showRefused);
  $('#refused-pin').addEventListener('click', pinRefused);
  $('#refused-cancel').addEventListener('click', () => { $('#refused').hidden = true; });
  $('#window-add').addEventListener('click', () => { $('#windows').append(windowRow({ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'] })); markChanges(); });
  $('#reload').addEventListener('click', loadSettings);
  $('#resize').addEventListener('submit', resize);
  $('#site-suspend-for').addEventListener('submit', event => event.preventDefault());
  $('#delivery-filter').addEventListener('input', () => loadDeliveries().catch(() => {}));
  $('#delivery-filter').addEventListener('submit', event => event.preventDefault());
  if (state.token) { $('#nav').hidden = false; show('settings'); } else signOut('');
});
