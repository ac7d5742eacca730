'use strict';
// The operator's console (GET /ui): the gateway's peers, dead letters, a
// dossier's trail, the report, certificates and refusals, from the admin API
// of the gateway that serves it. Vietnamese first, English on a click.
// Every value shown goes through esc(); the page loads nothing from elsewhere.
// The render functions are pure and also run under node (module.exports), so
// the tests render real answers with them.

const TEXT = {
  vi: {
    lang: 'English', title: 'Bảng điều khiển liên thông',
    tabs: ['Tổng quan', 'Hồ sơ lỗi', 'Tra cứu hồ sơ', 'Báo cáo', 'Chứng thư số', 'Từ chối gần đây'],
    node: 'máy', version: 'phiên bản', up: 'chạy được', store: 'kho dữ liệu', healthy: 'tốt', failing: 'LỖI',
    ready: 'sẵn sàng', notReady: 'CHƯA SẴN SÀNG', eventsStored: 'sự kiện đã lưu',
    peer: 'đầu mối', adapter: 'bộ chuyển đổi', queue: 'đang chờ gửi', oldest: 'chờ lâu nhất', lastOk: 'gửi được lần cuối',
    lastErr: 'lỗi gần nhất', breaker: 'ngắt mạch', dead: 'hồ sơ lỗi', eventsIn: 'sự kiện nhận',
    open: 'MỞ (tạm ngừng gửi)', closed: 'đóng', off: 'tắt', none: '—', never: 'chưa có',
    noAnswer: 'cổng không trả lời: ',
    allPeers: 'mọi đầu mối', reload: 'Tải lại', replay: 'Gửi lại mục đã chọn', purge: 'Xoá mục đã chọn',
    confirmPurge: 'Xoá vĩnh viễn các mục đã chọn? Sự kiện vẫn còn trong nhật trình hồ sơ.',
    nothingChosen: 'Chưa chọn mục nào.', replayed: 'đã đưa lại vào hàng đợi', purged: 'đã xoá',
    id: 'mã', dossierCode: 'mã hồ sơ', type: 'loại sự kiện', to: 'gửi tới', attempts: 'số lần gửi',
    reason: 'lý do', deadAt: 'ngừng gửi lúc', noDead: 'Không có hồ sơ lỗi.', more: 'còn nữa: lọc theo đầu mối',
    search: 'Tra cứu', codePlaceholder: 'mã hồ sơ, ví dụ 000.00.12.H12-261122-0001', notFound: 'Không tìm thấy: ',
    status: 'trạng thái', channel: 'kênh', received: 'tiếp nhận', due: 'hẹn trả', resolved: 'giải quyết',
    returned: 'trả kết quả', heldBy: 'đang nằm tại', lateAt: 'trễ hạn tại', lateBy: 'trễ', apologies: 'thư xin lỗi',
    agencies: 'Các cơ quan đã giữ hồ sơ', since: 'từ', until: 'đến', now: 'nay', workingDays: 'ngày làm việc',
    timeline: 'Diễn biến theo thời gian', event: 'sự kiện', from: 'từ', attempt: 'lần gửi', answer: 'trả lời',
    delivered: 'đã gửi', after: 'sau', reachedAfter: 'đến cổng sau',
    periodFrom: 'Từ ngày', periodTo: 'đến ngày', show: 'Xem', csv: 'Tải CSV',
    perReceiving: 'Theo cơ quan tiếp nhận', perHandling: 'Theo cơ quan xử lý (hồ sơ trễ tính tại nơi để trễ)',
    agency: 'cơ quan', total: 'Tổng cộng', unknownStart: 'Không rõ ngày tiếp nhận (tính riêng)',
    cols: ['kỳ trước chuyển qua', 'trực tiếp', 'trực tuyến', 'bưu chính', 'không rõ kênh', 'tổng tiếp nhận',
           'đã giải quyết', 'trước hạn', 'đúng hạn', 'trễ hạn', 'trong hạn', 'quá hạn', 'thư xin lỗi',
           'liên thông', 'liên thông điện tử', 'trễ không xin lỗi', 'tỷ lệ trực tuyến', 'tỷ lệ điện tử'],
    seen: 'hồ sơ', inProgress: 'đang giải quyết', lateAtList: 'Trễ hạn tại',
    what: 'chứng thư', cn: 'chủ thể (CN)', daysLeft: 'còn (ngày)', path: 'tệp', expired: 'HẾT HẠN',
    at: 'lúc', message: 'mã thông điệp', answered: 'đã trả lời', noRefusals: 'Không có thông điệp nào bị từ chối.',
    token: 'Mã truy cập của người vận hành (token):', useToken: 'Dùng',
  },
  en: {
    lang: 'Tiếng Việt', title: 'lienthong console',
    tabs: ['Overview', 'Dead letters', 'Dossier', 'Report', 'Certificates', 'Recent refusals'],
    node: 'node', version: 'version', up: 'up', store: 'store', healthy: 'healthy', failing: 'FAILING',
    ready: 'ready', notReady: 'NOT READY', eventsStored: 'events stored',
    peer: 'peer', adapter: 'adapter', queue: 'queued', oldest: 'oldest', lastOk: 'last success',
    lastErr: 'last error', breaker: 'breaker', dead: 'dead letters', eventsIn: 'events in',
    open: 'OPEN (not sending)', closed: 'closed', off: 'off', none: '—', never: 'none yet',
    noAnswer: 'the gateway does not answer: ',
    allPeers: 'every peer', reload: 'Reload', replay: 'Replay the selected', purge: 'Purge the selected',
    confirmPurge: 'Delete the selected dead letters for good? Their events stay in the trail.',
    nothingChosen: 'Nothing selected.', replayed: 'back in the queue', purged: 'purged',
    id: 'id', dossierCode: 'dossier', type: 'event', to: 'to', attempts: 'attempts',
    reason: 'reason', deadAt: 'given up', noDead: 'No dead letters.', more: 'more: filter by peer',
    search: 'Search', codePlaceholder: 'dossier code, e.g. 000.00.12.H12-261122-0001', notFound: 'Not found: ',
    status: 'status', channel: 'channel', received: 'received', due: 'due', resolved: 'resolved',
    returned: 'returned', heldBy: 'held by', lateAt: 'late at', lateBy: 'late by', apologies: 'apologies',
    agencies: 'Agencies that held it', since: 'from', until: 'to', now: 'now', workingDays: 'working days',
    timeline: 'In time order', event: 'event', from: 'from', attempt: 'attempt', answer: 'answer',
    delivered: 'delivered', after: 'after', reachedAfter: 'reached the gateway after',
    periodFrom: 'From', periodTo: 'to', show: 'Show', csv: 'Download CSV',
    perReceiving: 'Per receiving agency', perHandling: 'Per handling agency (a late dossier where it went late)',
    agency: 'agency', total: 'Total', unknownStart: 'Unknown start (counted apart)',
    cols: ['carried over', 'direct', 'online', 'postal', 'not stated', 'received in all', 'resolved', 'early',
           'on time', 'late', 'within deadline', 'overdue', 'apologies', 'inter-agency', 'electronically',
           'late, no apology', 'online share', 'electronic share'],
    seen: 'dossiers', inProgress: 'in progress', lateAtList: 'Late at',
    what: 'certificate', cn: 'subject (CN)', daysLeft: 'days left', path: 'file', expired: 'EXPIRED',
    at: 'at', message: 'message id', answered: 'answered', noRefusals: 'No message was refused.',
    token: 'Operator token:', useToken: 'Use',
  },
};
const FIELDS = ['carried_over', 'direct', 'online', 'postal', 'not_stated', 'received_total', 'resolved',
                'resolved_early', 'resolved_on_time', 'resolved_late', 'in_progress_on_time', 'in_progress_overdue',
                'apologies', 'inter_agency', 'exchanged_electronically', 'late_without_apology'];

function esc(v) {
  return String(v === undefined || v === null ? '' : v).replace(/[&<>"']/g,
    c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c]);
}
function flag(good, text) { return '<span class="' + (good ? 'ok' : 'bad') + '">' + esc(text) + '</span>'; }
function age(s) {
  if (s === null || s === undefined) return '—';
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min';
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor(s % 3600 / 60) + ' min';
  return Math.floor(s / 86400) + ' d ' + Math.floor(s % 86400 / 3600) + ' h';
}
function when(t) { return t ? esc(String(t).replace('T', ' ').replace(/\.\d+/, '')) : '—'; }
function cells(list, tag) { return list.map(x => '<' + tag + '>' + x + '</' + tag + '>').join(''); }
function agencyName(a) { return a ? esc(a.name ? a.name + ' (' + a.code + ')' : a.code) : '—'; }

// The overview: the node and one row per peer (destinations have queues).
function render(s, ready, lang) {
  const L = TEXT[lang || 'vi'];
  const head = '<p>' + L.node + ' <b>' + esc(s.node_id) + '</b>, ' + L.version + ' ' + esc(s.version) + ', ' +
    L.up + ' ' + age(s.uptime_s) + '; ' + L.store + ' ' + flag(s.store_healthy, s.store_healthy ? L.healthy : L.failing) +
    '; ' + flag(ready, ready ? L.ready : L.notReady) + '; ' + esc(s.events_stored) + ' ' + L.eventsStored + '.</p>';
  const rows = s.peers.map(p => {
    const queue = (p.pending || 0) + (p.inflight || 0) + (p.waiting_for_order || 0);
    const breaker = p.breaker === 'open' ? flag(false, L.open) : esc(L[p.breaker] || p.breaker);
    const err = p.last_error ? '<span class="bad" title="' + esc(p.last_error.error) + '">' + when(p.last_error.at) +
      '</span> ' + esc(p.last_error.error) : '—';
    return '<tr><td>' + esc(p.name) + '</td><td>' + esc(p.adapter) + '</td>' + (p.destination ?
      cells([esc(queue), age(p.oldest_age_s), p.last_success ? when(p.last_success) : esc(L.never), err,
             p.dead_letters ? flag(false, p.dead_letters) : '0', breaker], 'td') :
      cells(['', '', '', '', '', esc(L.none)], 'td')) + '<td>' + esc(p.events_in) + '</td></tr>';
  });
  return head + '<table><tr>' + cells([L.peer, L.adapter, L.queue, L.oldest, L.lastOk, L.lastErr, L.dead, L.breaker,
    L.eventsIn].map(esc), 'th') + '</tr>' + rows.join('') + '</table>';
}

function renderDlq(doc, lang) {
  const L = TEXT[lang || 'vi'];
  if (!doc.dead_letters.length) return '<p>' + esc(L.noDead) + '</p>';
  const rows = doc.dead_letters.map(d => '<tr><td><input type="checkbox" class="pick" data-id="' + esc(d.id) +
    '"></td>' + cells([esc(d.id), esc(d.dossier_code), esc(d.type), esc(d.dest), esc(d.attempts),
      esc((d.last_status || '') + ' ' + (d.last_error || '')), when(d.dead_at)], 'td') + '</tr>');
  return '<table id="dlq-table"><tr><th><input type="checkbox" id="pick-all"></th>' + cells([L.id, L.dossierCode,
    L.type, L.to, L.attempts, L.reason, L.deadAt].map(esc), 'th') + '</tr>' + rows.join('') + '</table>' +
    (doc.more ? '<p>' + esc(L.more) + '</p>' : '');
}

function renderTrail(t, lang) {
  const L = TEXT[lang || 'vi'];
  const d = t.dossier || {};
  let h = '<h2>' + esc(t.dossier_code) + '</h2><dl class="facts">';
  const fact = (k, v) => { h += '<dt>' + esc(k) + '</dt><dd>' + v + '</dd>'; };
  fact(L.status, esc(d.status) + (d.last_event ? ' (' + esc(d.last_event) + ')' : ''));
  fact(L.channel, esc(d.channel || '—'));
  fact(L.received, when(d.received_at));
  fact(L.due, when(d.due_at));
  if (d.resolved_at) fact(L.resolved, when(d.resolved_at));
  if (d.returned_at) fact(L.returned, when(d.returned_at));
  fact(L.heldBy, agencyName(t.holder_now));
  if (t.late) fact(L.lateAt, flag(false, (t.late.agency ? (t.late.agency.name || t.late.agency.code) : '?')) + ' — ' +
    L.due + ' ' + when(t.late.due_at) + ', ' + L.lateBy + ' ' + age(t.late.late_by_s) + ', ' + L.apologies + ' ' +
    esc(t.late.apologies));
  h += '</dl><h3>' + esc(L.agencies) + '</h3><ol class="holders">';
  for (const a of t.holders) {
    h += '<li><b>' + agencyName(a.agency) + '</b> ' + L.since + ' ' + when(a.from) + ' ' + L.until + ' ' +
      (a.to ? when(a.to) : esc(L.now)) + ': ' + age(a.held_s) + ' (' + esc(a.working_days) + ' ' + L.workingDays + ')</li>';
  }
  h += '</ol><h3>' + esc(L.timeline) + '</h3><ol class="timeline">';
  const byN = {};
  for (const e of t.events) byN[e.n] = e;
  for (const m of t.timeline) {
    if (m.what === 'event') {
      const e = byN[m.n] || {};
      h += '<li class="ev"><time>' + when(m.at) + '</time> <b>#' + esc(m.n) + ' ' + esc(m.type) + '</b> ' + L.from + ' ' +
        esc(m.source) + (e.lag_s > 0 ? ' (' + L.reachedAfter + ' ' + age(e.lag_s) + ')' : '') +
        (e.vouched ? '<br><small>' + esc(e.vouched) + '</small>' : '') + '</li>';
    } else {
      const ok = m.outcome === 'done';
      h += '<li class="at"><time>' + when(m.at) + '</time> ' + L.attempt + ' ' + esc(m.attempt) + ' #' + esc(m.n) + ' → ' +
        esc(m.dest) + ': ' + flag(ok, m.outcome) + (m.status ? ' ' + L.answer + ' ' + esc(m.status) : '') + ', ' +
        esc(m.duration_ms) + ' ms' + (m.error ? ' <small>' + esc(m.error) + '</small>' : '') + '</li>';
    }
  }
  h += '</ol><table><tr>' + cells(['#', L.type, L.to, L.status, L.attempts, L.delivered, L.after].map(esc), 'th') + '</tr>';
  for (const e of t.events) for (const v of e.deliveries) {
    h += '<tr>' + cells([esc(e.n), esc(e.type), esc(v.dest), v.state === 'dead' ? flag(false, v.state) : esc(v.state),
      esc(v.attempts), when(v.delivered_at), v.delay_s === null ? '—' : esc(v.delay_s.toFixed(3)) + ' s'], 'td') + '</tr>';
  }
  return h + '</table>';
}

function reportRow(r, label) {
  return '<tr><td>' + label + '</td>' + cells(FIELDS.map(f => esc(r[f])), 'td') + '<td>' + esc(r.online_share) +
    '%</td><td>' + esc(r.electronic_share) + '%</td></tr>';
}
function renderReport(doc, lang) {
  const L = TEXT[lang || 'vi'];
  const head = '<tr><th>' + esc(L.agency) + '</th>' + cells(L.cols.map(esc), 'th') + '</tr>';
  let h = '<h3>' + esc(L.perReceiving) + '</h3><table class="report" id="report-receiving">' + head;
  const name = r => agencyName({code: r.agency, name: r.name});
  for (const r of doc.agencies) h += reportRow(r, name(r));
  h += reportRow(doc.total, '<b>' + esc(L.total) + '</b>').replace('<tr>', '<tr class="total">') + '</table>';
  h += '<h3>' + esc(L.perHandling) + '</h3><table class="report" id="report-handling">' + head;
  for (const r of doc.handling_agencies) h += reportRow(r, name(r));
  h += '</table>';
  if (doc.late_at.length) h += '<p>' + esc(L.lateAtList) + ': ' + doc.late_at.map(x => agencyName(x.agency) + ' ' +
    flag(false, x.late)).join(', ') + '</p>';
  const u = doc.unknown_start;
  if (u.seen) h += '<p>' + esc(L.unknownStart) + ': ' + esc(u.seen) + ' ' + L.seen + ', ' + esc(u.resolved) + ' ' +
    L.resolved + ', ' + esc(u.in_progress) + ' ' + L.inProgress + '.</p>';
  return h;
}

function renderCerts(s, lang) {
  const L = TEXT[lang || 'vi'];
  return '<table><tr>' + cells([L.what, L.cn, L.daysLeft, L.path].map(esc), 'th') + '</tr>' +
    (s.certificates || []).map(c => '<tr>' + cells([esc(c.what), esc(c.cn), c.days_left < 0 ? flag(false, L.expired) :
      c.days_left < 30 ? flag(false, c.days_left) : esc(c.days_left), esc(c.path)], 'td') + '</tr>').join('') + '</table>';
}

function renderRefusals(doc, lang) {
  const L = TEXT[lang || 'vi'];
  if (!doc.refusals.length) return '<p>' + esc(L.noRefusals) + '</p>';
  return '<table><tr>' + cells([L.at, L.peer, L.message, L.answered, L.reason].map(esc), 'th') + '</tr>' +
    doc.refusals.map(r => '<tr>' + cells([when(r.at), esc(r.peer), esc(r.message_id || '—'), esc(r.status || '—'),
      esc(r.reason)], 'td') + '</tr>').join('') + '</table>';
}

// ---- in the browser ----
function console_(doc, win) {
  let lang = win.localStorage.getItem('lienthong.lang') === 'en' ? 'en' : 'vi';
  let tab = 0, status = null, ready = false, lastTrail = null, lastReport = null, lastDlq = null, lastRefusals = null;
  const $ = id => doc.getElementById(id);
  // Beyond loopback the admin API asks a credential: the browser's client
  // certificate, or an operator's token, entered once and kept for this tab
  // only (sessionStorage), sent as Authorization: Bearer. A 401 asks for it.
  const TOKEN = 'lienthong.token';
  async function call(path, opts) {
    const headers = Object.assign({}, opts.headers);
    const token = win.sessionStorage.getItem(TOKEN);
    if (token) headers['Authorization'] = 'Bearer ' + token;
    const r = await fetch(path, Object.assign({}, opts, {headers: headers}));
    if (r.status === 401) { $('auth').hidden = false; $('token').focus(); }
    return r;
  }
  async function get(path) {
    const r = await call(path, {headers: {'Accept': 'application/json'}});
    const body = await r.json();
    if (!r.ok) throw new Error(body.detail || r.status);
    return body;
  }
  async function post(path, body) {
    const r = await call(path, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
    const answer = await r.json();
    if (!r.ok) throw new Error(answer.detail || r.status);
    return answer;
  }
  function show(id, html) { $(id).innerHTML = html; }
  function fail(id, e) { show(id, flag(false, TEXT[lang].noAnswer + e.message)); }
  function frame() {
    const L = TEXT[lang];
    doc.documentElement.lang = lang;
    doc.title = L.title;
    $('title').textContent = L.title;
    $('lang').textContent = L.lang;
    $('nav').innerHTML = L.tabs.map((name, i) => '<button data-tab="' + i + '"' + (i === tab ? ' class="on"' : '') + '>' +
      esc(name) + '</button>').join('');
    for (let i = 0; i < 6; i++) $('tab' + i).hidden = i !== tab;
    $('dlq-peer').innerHTML = '<option value="">' + esc(L.allPeers) + '</option>' + (status ? status.peers
      .filter(p => p.destination).map(p => '<option>' + esc(p.name) + '</option>').join('') : '');
    $('dlq-reload').textContent = L.reload;
    $('dlq-replay').textContent = L.replay;
    $('dlq-purge').textContent = L.purge;
    $('trail-go').textContent = L.search;
    $('trail-code').placeholder = L.codePlaceholder;
    $('report-go').textContent = L.show;
    $('report-csv').textContent = L.csv;
    $('report-from-label').textContent = L.periodFrom;
    $('report-to-label').textContent = L.periodTo;
    $('token-label').textContent = L.token;
    $('token-go').textContent = L.useToken;
    if (status) { show('overview', render(status, ready, lang)); show('certs', renderCerts(status, lang)); }
    if (lastTrail) show('trail', renderTrail(lastTrail, lang));
    if (lastReport) show('report', renderReport(lastReport, lang));
    if (lastDlq) show('dlq', renderDlq(lastDlq, lang));
    if (lastRefusals) show('refusals', renderRefusals(lastRefusals, lang));
  }
  async function tick() {
    try {
      status = await get('/v1/admin/status');
      ready = (await call('/readyz', {})).ok;
      show('overview', render(status, ready, lang));
      show('certs', renderCerts(status, lang));
      if (!$('dlq-peer').options.length || $('dlq-peer').options.length === 1) frame();
    } catch (e) { fail('overview', e); }
  }
  async function loadDlq() {
    const peer = $('dlq-peer').value;
    try {
      lastDlq = await get('/v1/admin/dlq' + (peer ? '?peer=' + encodeURIComponent(peer) : ''));
      show('dlq', renderDlq(lastDlq, lang));
    } catch (e) { fail('dlq', e); }
  }
  async function act(action) {
    const ids = Array.from(doc.querySelectorAll('#dlq .pick:checked')).map(c => Number(c.dataset.id));
    const L = TEXT[lang];
    if (!ids.length) { show('dlq-said', esc(L.nothingChosen)); return; }
    if (action === 'purge' && !win.confirm(L.confirmPurge)) return;
    let said;
    try {
      const r = await post('/v1/admin/dlq/' + action, {ids: ids});
      said = flag(true, r.count + ' ' + (action === 'replay' ? L.replayed : L.purged));
    } catch (e) { said = flag(false, L.noAnswer + e.message); }
    await loadDlq();                    // the list as it is now, then what was done
    show('dlq-said', said);
  }
  async function loadTrail() {
    const code = $('trail-code').value.trim();
    if (!code) return;
    try {
      lastTrail = await get('/v1/admin/dossiers/' + encodeURIComponent(code) + '/trail');
      show('trail', renderTrail(lastTrail, lang));
    } catch (e) { lastTrail = null; show('trail', flag(false, TEXT[lang].notFound + e.message)); }
  }
  async function loadReport() {
    const q = 'from=' + encodeURIComponent($('report-from').value) + '&to=' + encodeURIComponent($('report-to').value);
    $('report-csv').href = '/v1/admin/report?' + q + '&format=csv';
    try {
      lastReport = await get('/v1/admin/report?' + q);
      show('report', renderReport(lastReport, lang));
    } catch (e) { lastReport = null; fail('report', e); }
  }
  async function loadRefusals() {
    try {
      lastRefusals = await get('/v1/admin/refusals?limit=100');
      show('refusals', renderRefusals(lastRefusals, lang));
    } catch (e) { fail('refusals', e); }
  }
  $('nav').addEventListener('click', e => {
    const b = e.target.closest('button');
    if (!b) return;
    tab = Number(b.dataset.tab);
    frame();
    if (tab === 1) loadDlq();
    if (tab === 5) loadRefusals();
  });
  $('lang').addEventListener('click', () => {
    lang = lang === 'vi' ? 'en' : 'vi';
    win.localStorage.setItem('lienthong.lang', lang);
    frame();
  });
  $('dlq-reload').addEventListener('click', loadDlq);
  $('dlq-peer').addEventListener('change', loadDlq);
  $('dlq-replay').addEventListener('click', () => act('replay'));
  $('dlq-purge').addEventListener('click', () => act('purge'));
  $('dlq').addEventListener('change', e => {
    if (e.target.id === 'pick-all') doc.querySelectorAll('#dlq .pick').forEach(c => { c.checked = e.target.checked; });
  });
  $('trail-go').addEventListener('click', loadTrail);
  $('trail-code').addEventListener('keydown', e => { if (e.key === 'Enter') loadTrail(); });
  $('report-go').addEventListener('click', loadReport);
  function useToken() {
    const t = $('token').value.trim();
    if (!t) return;
    win.sessionStorage.setItem(TOKEN, t);
    $('token').value = '';
    $('auth').hidden = true;
    tick();
    if (tab === 1) loadDlq();
    if (tab === 5) loadRefusals();
  }
  $('token-go').addEventListener('click', useToken);
  $('token').addEventListener('keydown', e => { if (e.key === 'Enter') useToken(); });
  // with a token the CSV is fetched with it and saved from memory (a link cannot carry it)
  $('report-csv').addEventListener('click', async e => {
    if (!win.sessionStorage.getItem(TOKEN)) return;
    e.preventDefault();
    const r = await call($('report-csv').getAttribute('href'), {});
    if (!r.ok) return;
    const a = doc.createElement('a');
    a.href = win.URL.createObjectURL(await r.blob());
    a.download = 'lienthong-report.csv';
    a.click();
    win.setTimeout(() => win.URL.revokeObjectURL(a.href), 1000);
  });
  const today = new Date(Date.now() + 7 * 3600 * 1000).toISOString().slice(0, 10);
  $('report-from').value = today.slice(0, 8) + '01';
  $('report-to').value = today;
  $('report-csv').href = '/v1/admin/report?from=' + $('report-from').value + '&to=' + today + '&format=csv';
  frame();
  tick();
  win.setInterval(tick, 5000);
}

if (typeof document !== 'undefined') console_(document, window);
if (typeof module !== 'undefined') module.exports = { render, renderDlq, renderTrail, renderReport, renderCerts, renderRefusals };
