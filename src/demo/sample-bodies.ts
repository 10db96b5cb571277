import type { Prng } from './prng.ts';

/**
 * Response bodies for sample payloads: bank-site HTML pages and JSON API answers of a requested
 * size. Sizes are counted in characters of the body once it sits inside the payload's JSON
 * (quotes and newlines escaped), which is what the payload's size budget spends. Everything is
 * ASCII, so characters are bytes.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const MERCHANTS = [
  'TESCO STORES',
  'AMAZON MKTPLACE',
  'SHELL FUEL',
  'UBER TRIP',
  'NETFLIX.COM',
  'SAINSBURYS',
  'PRET A MANGER',
  'TFL TRAVEL',
  'APPLE.COM/BILL',
  'VODAFONE LTD',
  'BRITISH GAS',
  'COUNCIL TAX',
  'DELIVEROO',
  'IKEA LTD',
  'BOOTS',
  'WAITROSE',
  'STARBUCKS',
  'SPOTIFY',
] as const;
const KINDS = [
  'CARD PURCHASE',
  'DIRECT DEBIT',
  'STANDING ORDER',
  'FASTER PAYMENT',
  'CONTACTLESS',
  'REFUND',
] as const;
const CATEGORIES = [
  'groceries',
  'transport',
  'utilities',
  'entertainment',
  'shopping',
  'eating_out',
  'bills',
] as const;

/** Characters `text` takes inside a JSON string. */
function escapedLength(text: string): number {
  return JSON.stringify(text).length - 2;
}

function day(rng: Prng, year: number): string {
  const month = rng.int(1, 12);
  return `${year}-${String(month).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`;
}

function amount(rng: Prng): number {
  // Most card spending is small; a few rent-sized payments keep the column realistic.
  const pounds = rng.chance(0.05) ? rng.int(400, 2_400) : rng.int(1, 180);
  return pounds + rng.int(0, 99) / 100;
}

// Formatted by hand rather than with toLocaleString, whose output depends on the ICU build.
function money(value: number): string {
  const [whole = '0', pence = '00'] = value.toFixed(2).split('.');
  return `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${pence}`;
}

function transactionRow(rng: Prng, year: number): string {
  const debit = !rng.chance(0.15);
  const value = amount(rng);
  return (
    `<tr data-txn-id="txn_${rng.hex(16)}" class="${debit ? 'debit' : 'credit'}">\n` +
    `  <td class="date">${day(rng, year)}</td>\n` +
    `  <td class="description">${rng.pick(KINDS)} ${rng.pick(MERCHANTS)} ${rng.int(1000, 9999)}</td>\n` +
    `  <td class="category"><span class="chip chip--${rng.pick(CATEGORIES)}">${rng.pick(CATEGORIES)}</span></td>\n` +
    `  <td class="amount">${debit ? '-' : ''}${money(value)}</td>\n` +
    `  <td class="balance">${money(rng.int(50, 25_000) + rng.int(0, 99) / 100)}</td>\n` +
    `</tr>\n`
  );
}

/**
 * An account-activity page as a server-rendered banking site sends it: head with assets, an
 * ASP.NET-style view state (opaque, so it does not compress), and a transaction table grown
 * until the page reaches about `targetChars`.
 */
export function htmlPage(
  rng: Prng,
  options: { bankName: string; title: string; year: number; targetChars: number },
): string {
  const head =
    `<!DOCTYPE html>\n<html lang="en-GB">\n<head>\n<meta charset="utf-8">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<title>${options.bankName} - ${options.title}</title>\n` +
    `<link rel="stylesheet" href="/static/css/main.${rng.hex(8)}.css">\n` +
    `<script src="/static/js/runtime.${rng.hex(8)}.js" defer></script>\n` +
    `<script>window.__APP_CONFIG__ = {"env":"prod","build":"${rng.hex(12)}","features":["statements","pfm"]};</script>\n` +
    `</head>\n<body class="page page--activity">\n` +
    `<header class="masthead"><a class="logo" href="/">${options.bankName}</a>\n` +
    `<nav><a href="/accounts">Accounts</a> <a href="/payments">Payments</a> <a href="/statements">Statements</a> <a href="/logout">Log out</a></nav></header>\n` +
    `<main>\n<h1>${options.title}</h1>\n` +
    `<form method="post" action="/accounts/activity" id="activityForm">\n` +
    `<input type="hidden" name="__VIEWSTATE" value="${rng.base64(rng.int(800, 6_000))}">\n` +
    `<input type="hidden" name="__EVENTVALIDATION" value="${rng.base64(rng.int(100, 600))}">\n` +
    `<table class="transactions">\n<thead><tr><th>Date</th><th>Description</th><th>Category</th><th>Amount</th><th>Balance</th></tr></thead>\n<tbody>\n`;
  const tail =
    `</tbody>\n</table>\n</form>\n</main>\n` +
    `<footer><p>${options.bankName} plc is authorised by the Prudential Regulation Authority.</p></footer>\n` +
    `</body>\n</html>\n`;
  const parts = [head];
  let size = escapedLength(head) + escapedLength(tail);
  while (size < options.targetChars) {
    const row = transactionRow(rng, options.year);
    parts.push(row);
    size += escapedLength(row);
  }
  parts.push(tail);
  return parts.join('');
}

/** A short HTML error page, as gateways send when the bank's backend is down. */
export function htmlErrorPage(status: number, bankName: string): string {
  return (
    `<!DOCTYPE html>\n<html><head><title>${status} Service Unavailable</title></head>\n` +
    `<body><h1>Service temporarily unavailable</h1>\n<p>${bankName} online banking is undergoing maintenance. Please try again later.</p>\n` +
    `<hr><address>nginx</address></body></html>\n`
  );
}

function transaction(rng: Prng, year: number, accountId: string): JsonValue {
  const debit = !rng.chance(0.15);
  const value = amount(rng);
  return {
    id: `txn_${rng.hex(16)}`,
    accountId,
    bookingDate: day(rng, year),
    valueDate: day(rng, year),
    amount: { value: debit ? -value : value, currency: 'GBP' },
    description: `${rng.pick(KINDS)} ${rng.pick(MERCHANTS)} ${rng.int(1000, 9999)}`,
    category: rng.pick(CATEGORIES),
    status: rng.chance(0.9) ? 'booked' : 'pending',
    merchant: rng.chance(0.7) ? { name: rng.pick(MERCHANTS), mcc: String(rng.int(4000, 5999)) } : null,
    reference: rng.chance(0.3) ? rng.hex(12).toUpperCase() : null,
  };
}

/** A page of a transactions API, grown until its JSON reaches about `targetChars`. */
export function transactionsJson(
  rng: Prng,
  options: { accountId: string; year: number; page: number; targetChars: number },
): JsonValue {
  const transactions: JsonValue[] = [];
  const envelope = { page: options.page, pageSize: 0, nextCursor: rng.base64(44), transactions };
  let size = JSON.stringify(envelope).length;
  while (size < options.targetChars) {
    const item = transaction(rng, options.year, options.accountId);
    transactions.push(item);
    size += JSON.stringify(item).length + 1;
  }
  envelope.pageSize = transactions.length;
  return envelope;
}

/** An accounts listing: a few accounts with balances. */
export function accountsJson(rng: Prng, accountIds: readonly string[]): JsonValue {
  return {
    accounts: accountIds.map((id) => ({
      id,
      type: rng.pick(['current', 'savings', 'credit_card']),
      name: rng.pick(['Everyday Current', 'Rainy Day Saver', 'Platinum Card', 'Joint Account']),
      sortCode: `${rng.int(10, 99)}-${rng.int(10, 99)}-${rng.int(10, 99)}`,
      accountNumberMasked: `****${rng.int(1000, 9999)}`,
      balance: { available: rng.int(0, 20_000) + rng.int(0, 99) / 100, currency: 'GBP' },
      openedOn: `${rng.int(2005, 2024)}-0${rng.int(1, 9)}-1${rng.int(0, 9)}`,
    })),
  };
}

/** An OAuth token answer with the secrets already redacted by the recorder. */
export function tokenJson(rng: Prng): JsonValue {
  return {
    access_token: '[redacted]',
    refresh_token: '[redacted]',
    token_type: 'Bearer',
    expires_in: 3_600,
    scope: 'accounts transactions',
    session_id: rng.hex(32),
  };
}
