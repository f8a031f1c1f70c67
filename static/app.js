// boxoffice pages: a countdown on the order page, and live availability
// on the ticket list and a ticket's page. Every page works without this
// script; it only keeps what is shown up to date.
(function () {
  'use strict';

  var STATE_TEXT = {
    available: 'Available',
    held: 'This ticket is being checked out by someone else, come back later',
    sold: 'Sold'
  };

  function byId(id) {
    return document.getElementById(id);
  }

  function hide(id) {
    var el = byId(id);
    if (el) el.hidden = true;
  }

  // The order page: "Time left to pay: N seconds", from the N the server
  // rendered, until "Order expired" at the deadline.
  function countdown() {
    var el = byId('countdown');
    if (!el) return;
    var left = parseInt(el.getAttribute('data-seconds-left'), 10);
    if (isNaN(left)) return;
    var deadline = Date.now() + left * 1000;
    function tick() {
      var s = Math.ceil((deadline - Date.now()) / 1000);
      if (s <= 0) {
        el.textContent = 'Order expired';
        el.setAttribute('data-expired', 'true');
        var status = byId('order-status');
        if (status) {
          status.textContent = 'Order expired';
          status.setAttribute('data-status', 'expired');
        }
        hide('pay-form');
        hide('cancel-form');
        return;
      }
      el.textContent = 'Time left to pay: ' + s + ' seconds';
      setTimeout(tick, 250);
    }
    tick();
  }

  // Prices as the pages show them: two decimals (the stream sends the
  // API's number, which drops trailing zeros).
  function money(price) {
    return Number(price).toFixed(2);
  }

  function findRow(body, id) {
    for (var i = 0; i < body.rows.length; i++) {
      if (body.rows[i].getAttribute('data-ticket-id') === id) return body.rows[i];
    }
    return null;
  }

  function cell(row, cls, text) {
    var td = document.createElement('td');
    td.className = cls;
    td.textContent = text;
    row.appendChild(td);
  }

  // The list: a ticket no longer for sale leaves it; one for sale is
  // updated in place, or added where this page shows the end of the list.
  function onList(table, t) {
    var body = table.tBodies[0];
    var row = findRow(body, t.id);
    if (!t.forSale) {
      if (row) row.parentNode.removeChild(row);
      return;
    }
    if (row) {
      row.querySelector('.title').textContent = t.title;
      row.querySelector('.price').textContent = money(t.price);
      return;
    }
    if (table.getAttribute('data-add') !== 'true') return;
    row = document.createElement('tr');
    row.setAttribute('data-ticket-id', t.id);
    cell(row, 'title', t.title);
    cell(row, 'price', money(t.price));
    var td = document.createElement('td');
    var a = document.createElement('a');
    a.href = '/tickets/' + encodeURIComponent(t.id);
    a.textContent = 'View';
    td.appendChild(a);
    row.appendChild(td);
    body.appendChild(row);
    hide('no-tickets');
  }

  // A ticket's page: its title, price and state, and the Purchase form
  // shown only while it is available. A ticket goes available -> held ->
  // sold or available again, so "not for sale" after "held" means sold.
  function onTicket(article, t) {
    if (t.id !== article.getAttribute('data-ticket-id')) return;
    var version = parseInt(article.getAttribute('data-version'), 10);
    if (!(t.version > version)) return;
    article.setAttribute('data-version', String(t.version));
    byId('ticket-title').textContent = t.title;
    byId('ticket-price').textContent = money(t.price);
    var price = document.querySelector('#purchase-form input[name="price"]');
    if (price) price.value = String(t.price);
    var state = byId('ticket-state');
    var now = STATE_TEXT[t.state] ? t.state : (t.forSale ? 'available' : 'held');
    state.setAttribute('data-state', now);
    state.textContent = STATE_TEXT[now];
    var form = byId('purchase-form');
    if (form) form.hidden = now !== 'available';
  }

  function live() {
    var list = document.querySelector('table[data-live-list]');
    var ticket = byId('ticket');
    if ((!list && !ticket) || !window.EventSource) return;
    // From the feed's id as the page was rendered: nothing that changed
    // between rendering and connecting is missed.
    var from = document.body.getAttribute('data-stream-from');
    var source = new EventSource('/api/tickets/stream' +
      (from ? '?from=' + encodeURIComponent(from) : ''));
    source.addEventListener('reset', function () {
      window.location.reload();
    });
    source.addEventListener('ticket', function (e) {
      var t;
      try {
        t = JSON.parse(e.data);
      } catch (_) {
        return;
      }
      if (!t || typeof t.id !== 'string') return;
      if (list) onList(list, t);
      if (ticket) onTicket(ticket, t);
    });
  }

  function start() {
    countdown();
    live();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
