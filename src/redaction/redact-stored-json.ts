import { JsonScanner, MalformedJsonError, type ByteSource } from '../encoding/json-scanner.ts';
import { REDACTED, type RedactionPieces } from './redactor.ts';

/**
 * Values whose JSON is at most this long are parsed, redacted and (if they changed)
 * stringified whole; larger objects and arrays are opened and their members taken one by one.
 * On 10 MB of recorded traffic, 64 KiB units took 0.93x the time of 16 KiB ones and 0.72x that
 * of 4 KiB ones (fewer parse calls; a changed unit is stringified again whole).
 */
export const UNIT_BYTES = 64 * 1024;
/** Output pieces are joined into chunks of about this size (one gzip block). */
const OUTPUT_CHUNK_BYTES = 512 * 1024;

const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const QUOTE = 0x22;

interface Context {
  path: readonly (string | number)[];
  /** The nearest sensitive key above: every leaf below goes. */
  sensitiveKey: string | undefined;
}

const COMMA = Buffer.from(',');
const COLON = Buffer.from(':');

/**
 * Redacts stored JSON (as the producer wrote it: `JSON.stringify`'s bytes) without parsing or
 * holding it whole, and yields the redacted JSON in chunks of about 512 KiB: byte for byte
 * what `JSON.stringify(redactor.redactInPlace(JSON.parse(json)))` gives (the redaction summary
 * too, but for which names the 32 kept are, when more than 32 differ).
 *
 * The document is walked with a scanner over its bytes: a value of at most `unitBytes` is
 * parsed and redacted as a unit (its bytes are passed through untouched when redaction changed
 * nothing, the usual case for large bodies), and a larger object or array is opened and its
 * members are taken one by one, with what the redactor decides from a parent (a sensitive
 * key above, a header list, a `{ name, value }` entry) worked out here from the keys.
 *
 * Memory: the scanner's window (1 MiB), one unit and its parsed value, one output chunk, and
 * any single string or header list larger than a unit, which is taken whole. Malformed JSON
 * throws MalformedJsonError (or the SyntaxError of JSON.parse).
 */
export async function* redactStoredJson(
  source: ByteSource,
  pieces: RedactionPieces,
  options: { unitBytes?: number; windowBytes?: number } = {},
): AsyncGenerator<Buffer, void, undefined> {
  const unitBytes = options.unitBytes ?? UNIT_BYTES;
  const scanner = new JsonScanner(source, options.windowBytes);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const out = (bytes: Buffer): boolean => {
    pending.push(bytes);
    pendingBytes += bytes.length;
    return pendingBytes >= OUTPUT_CHUNK_BYTES;
  };
  const take = (): Buffer => {
    const chunk = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return chunk;
  };

  const expect = async (position: number, byte: number, what: string): Promise<void> => {
    if ((await scanner.byteAt(position)) !== byte) throw new MalformedJsonError(`${what} expected`, position);
  };

  const parse = (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8'));

  /** The member key at `position`: its bytes, its text, and where its value starts. */
  const readKey = async (position: number): Promise<{ bytes: Buffer; key: string; valueAt: number }> => {
    await expect(position, QUOTE, 'a key');
    const keyEnd = await scanner.stringEnd(position);
    const bytes = await scanner.slice(position, keyEnd);
    const colon = await scanner.skipSpace(keyEnd);
    await expect(colon, 0x3a, 'a colon');
    return { bytes, key: parse(bytes) as string, valueAt: await scanner.skipSpace(colon + 1) };
  };

  /** After a member, at `position`: the next member's start, or -1 at `close`. */
  const nextMember = async (position: number, close: number): Promise<number> => {
    const byte = await scanner.byteAt(position);
    if (byte === close) return -1;
    if (byte !== 0x2c) {
      throw new MalformedJsonError(`a comma or ${String.fromCharCode(close)} expected`, position);
    }
    return scanner.skipSpace(position + 1);
  };

  /** A value parsed and redacted whole; its own bytes when nothing changed. */
  const unit = async (start: number, end: number, context: Context): Promise<Buffer> => {
    const bytes = await scanner.slice(start, end);
    const { value, changed } = pieces.value(parse(bytes), context.path, context.sensitiveKey);
    return changed ? Buffer.from(JSON.stringify(value)) : bytes;
  };

  /** The string value of the member `name` of the object opening at `start`, if it has one. */
  const memberString = async (start: number, name: string): Promise<string | undefined> => {
    let found: string | undefined;
    let at = await scanner.skipSpace(start + 1);
    if ((await scanner.byteAt(at)) === 0x7d) return undefined;
    while (at !== -1) {
      const { key, valueAt } = await readKey(at);
      const valueEnd = await scanner.valueEnd(valueAt);
      if (key === name) {
        // The last one counts, as in JSON.parse.
        const value: unknown =
          (await scanner.byteAt(valueAt)) === QUOTE
            ? parse(await scanner.slice(valueAt, valueEnd))
            : undefined;
        found = typeof value === 'string' ? value : undefined;
      }
      at = await nextMember(await scanner.skipSpace(valueEnd), 0x7d);
    }
    return found;
  };

  async function* value(position: number, context: Context): AsyncGenerator<Buffer, number, undefined> {
    const start = await scanner.skipSpace(position);
    const first = await scanner.byteAt(start);
    if (first === OPEN_OBJECT || first === OPEN_ARRAY) {
      let end = await scanner.containerEnd(start, start + unitBytes + 1);
      if (end === -1 && first === OPEN_ARRAY && pieces.isHeaderList(context.path.at(-1))) {
        end = await scanner.containerEnd(start);
      }
      if (end !== -1) {
        if (out(await unit(start, end, context))) yield take();
        return end;
      }
      return first === OPEN_OBJECT ? yield* object(start, context) : yield* array(start, context);
    }
    if (first === -1) throw new MalformedJsonError('a value expected', start);
    const end = first === QUOTE ? await scanner.stringEnd(start) : await scanner.scalarEnd(start);
    if (first !== QUOTE && context.sensitiveKey === undefined) {
      // A number or literal under no sensitive key stays; parsed all the same, to refuse junk.
      const bytes = await scanner.slice(start, end);
      JSON.parse(bytes.toString('latin1'));
      if (out(bytes)) yield take();
      return end;
    }
    if (out(await unit(start, end, context))) yield take();
    return end;
  }

  async function* object(start: number, context: Context): AsyncGenerator<Buffer, number, undefined> {
    out(await scanner.slice(start, start + 1));
    let at = await scanner.skipSpace(start + 1);
    // Looked up once, when a `value` member is met.
    let entryName: { name: string | undefined } | undefined;
    let member = (await scanner.byteAt(at)) === 0x7d ? -1 : at;
    for (let index = 0; member !== -1; index += 1) {
      const { bytes, key, valueAt } = await readKey(member);
      if (index > 0) out(COMMA);
      out(bytes);
      out(COLON);
      const child: Context = {
        path: [...context.path, key],
        sensitiveKey: context.sensitiveKey ?? (pieces.isSensitive(key) ? key : undefined),
      };
      let valueEnd: number | undefined;
      if (key === 'value' && context.sensitiveKey === undefined) {
        // A `{ name, value }` entry whose name is sensitive: its value goes, whatever it is.
        entryName ??= { name: await memberString(start, 'name') };
        const { name } = entryName;
        if (name !== undefined && pieces.isSensitive(name)) {
          valueEnd = await scanner.valueEnd(valueAt);
          const original: unknown =
            (await scanner.byteAt(valueAt)) === QUOTE && valueEnd - valueAt === REDACTED.length + 2
              ? parse(await scanner.slice(valueAt, valueEnd))
              : undefined;
          if (original !== REDACTED) pieces.entry(name);
          const redacted = pieces.value(REDACTED, child.path, child.sensitiveKey);
          if (out(Buffer.from(JSON.stringify(redacted.value)))) yield take();
        }
      }
      valueEnd ??= yield* value(valueAt, child);
      at = await scanner.skipSpace(valueEnd);
      member = await nextMember(at, 0x7d);
    }
    out(await scanner.slice(at, at + 1));
    return at + 1;
  }

  async function* array(start: number, context: Context): AsyncGenerator<Buffer, number, undefined> {
    out(await scanner.slice(start, start + 1));
    let at = await scanner.skipSpace(start + 1);
    let element = (await scanner.byteAt(at)) === 0x5d ? -1 : at;
    for (let index = 0; element !== -1; index += 1) {
      if (index > 0) out(COMMA);
      const child: Context = { path: [...context.path, index], sensitiveKey: context.sensitiveKey };
      at = await scanner.skipSpace(yield* value(element, child));
      element = await nextMember(at, 0x5d);
    }
    out(await scanner.slice(at, at + 1));
    return at + 1;
  }

  const end = await scanner.skipSpace(yield* value(0, { path: [], sensitiveKey: undefined }));
  if (end < scanner.length) throw new MalformedJsonError('nothing expected after the document', end);
  if (pendingBytes > 0) yield take();
}
