/*
 * The JSON scanner's two hot loops (src/encoding/json-scanner.ts: stringEndIn and
 * containerEndInWindow), 64 bytes at a time with WebAssembly SIMD. The scanner copies each
 * window of the document to `window()` and calls these with indexes into it; results agree with
 * the JavaScript loops byte for byte (test/unit/window-scan.test.ts compares them on random
 * input), including on bytes that are not JSON.
 *
 * Per block of 64 bytes: bit masks of quotes, backslashes and brackets; which bytes a backslash
 * escapes (runs of backslashes included), as simdjson finds them; which bytes are inside strings
 * (a prefix XOR of the unescaped quotes); then brackets outside strings are counted, and only
 * looked at one by one when the block could close the container.
 *
 * Build: scripts/build-wasm.sh (clang with the wasm32 target, and wasm-ld).
 */
#include <stdint.h>
#include <wasm_simd128.h>

typedef uint64_t u64;
typedef int32_t i32;

/* Where the window starts: the memory after this module's own data and stack. */
extern unsigned char __heap_base;

/* What containerEnd tells besides its return value. */
static i32 out_depth;
static i32 out_resume;

__attribute__((export_name("window"))) unsigned char *window_start(void) { return &__heap_base; }
__attribute__((export_name("depth"))) i32 depth_out(void) { return out_depth; }
__attribute__((export_name("resume"))) i32 resume_out(void) { return out_resume; }

typedef struct {
  u64 quote, backslash, open, close;
} masks;

static inline u64 matches(v128_t a, v128_t b, v128_t c, v128_t d, v128_t byte) {
  return (u64)wasm_i8x16_bitmask(wasm_i8x16_eq(a, byte)) |
         ((u64)wasm_i8x16_bitmask(wasm_i8x16_eq(b, byte)) << 16) |
         ((u64)wasm_i8x16_bitmask(wasm_i8x16_eq(c, byte)) << 32) |
         ((u64)wasm_i8x16_bitmask(wasm_i8x16_eq(d, byte)) << 48);
}

/* Reads 64 bytes: the caller keeps 64 bytes of slack after the window. */
static inline masks block_at(const unsigned char *p) {
  v128_t a = wasm_v128_load(p), b = wasm_v128_load(p + 16);
  v128_t c = wasm_v128_load(p + 32), d = wasm_v128_load(p + 48);
  masks m;
  m.quote = matches(a, b, c, d, wasm_i8x16_splat('"'));
  m.backslash = matches(a, b, c, d, wasm_i8x16_splat('\\'));
  /* `[` and `{`, `]` and `}` differ only in bit 0x20, which no other byte sets them to. */
  v128_t bit = wasm_i8x16_splat(0x20);
  a = wasm_v128_or(a, bit);
  b = wasm_v128_or(b, bit);
  c = wasm_v128_or(c, bit);
  d = wasm_v128_or(d, bit);
  m.open = matches(a, b, c, d, wasm_i8x16_splat('{'));
  m.close = matches(a, b, c, d, wasm_i8x16_splat('}'));
  return m;
}

/*
 * The bytes a backslash escapes: in a run of backslashes each escapes the next, so a quote
 * after an odd run is escaped and after an even one is not. `carry` says whether the first byte
 * of the block is escaped, and is set for the next. (simdjson's find_escaped.)
 */
static inline u64 escaped_by(u64 backslash, u64 *carry) {
  if (backslash == 0) {
    u64 escaped = *carry;
    *carry = 0;
    return escaped;
  }
  backslash &= ~*carry;
  u64 follows = backslash << 1 | *carry;
  const u64 even = 0x5555555555555555ULL;
  u64 odd_starts = backslash & ~even & ~follows;
  u64 sum = odd_starts + backslash;
  *carry = sum < backslash;
  return (even ^ (sum << 1)) & follows;
}

/* Bit i set when an odd number of bits up to i (included) are set: inside a string. */
static inline u64 prefix_xor(u64 x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

/* The low n bits. */
static inline u64 below(i32 n) { return n >= 64 ? ~0ULL : n <= 0 ? 0 : (1ULL << n) - 1; }

/* The JavaScript loop itself, for bytes that are not JSON (a backslash outside a string). */
static i32 container_end_bytewise(const unsigned char *w, i32 len, i32 from, i32 stop, i32 depth);

/*
 * Bytes from `from` up to `len` are inside a string: the index just past its closing quote,
 * or -(r + 1) where r is where to go on from in the next window (`len`, or `len` + 1 when the
 * last byte is a backslash escaping the first byte there).
 */
__attribute__((export_name("stringEnd"))) i32 string_end(i32 len, i32 from) {
  const unsigned char *w = &__heap_base;
  u64 carry = 0;
  for (i32 at = from; at < len; at += 64) {
    masks m = block_at(w + at);
    i32 n = len - at;
    u64 valid = below(n);
    u64 escaped = escaped_by(m.backslash & valid, &carry);
    u64 quote = m.quote & ~escaped & valid;
    if (quote != 0) return at + __builtin_ctzll(quote) + 1;
    if (n <= 64) return -(len + (i32)(n < 64 ? (escaped >> n) & 1 : carry) + 1);
  }
  return -(from + 1);
}

/*
 * `from` is outside any string: scans up to `stop` (at most `len`) for the bracket that brings
 * `depth` to 0 and returns the index just past it; else -1, with depth() the depth reached and
 * resume() where to go on from: `stop`, past a string that began before `stop`, or -(q + 1)
 * when the string opened at q runs past `len`.
 */
__attribute__((export_name("containerEnd"))) i32 container_end(i32 len, i32 from, i32 stop, i32 depth) {
  const unsigned char *w = &__heap_base;
  u64 carry = 0;
  u64 inside = 0; /* all ones while a string from an earlier block runs on */
  i32 open_quote = -1;
  i32 level = depth;
  for (i32 at = from; at < stop; at += 64) {
    masks m = block_at(w + at);
    u64 valid = below(len - at);
    u64 backslash = m.backslash & valid;
    u64 escaped = escaped_by(backslash, &carry);
    u64 quote = m.quote & ~escaped & valid;
    u64 in_string = prefix_xor(quote) ^ inside;
    if ((backslash & ~in_string) != 0) {
      /* Not JSON: go on byte by byte from a token's start, with what was counted so far. */
      return container_end_bytewise(w, len, inside ? open_quote : at, stop, level);
    }
    i32 k = stop - at;
    u64 live = below(k);
    u64 open = m.open & ~in_string & live;
    u64 close = m.close & ~in_string & live;
    if ((i32)__builtin_popcountll(close) < level) {
      level += (i32)__builtin_popcountll(open) - (i32)__builtin_popcountll(close);
    } else {
      for (u64 both = open | close; both != 0; both &= both - 1) {
        i32 bit = __builtin_ctzll(both);
        if ((open >> bit) & 1) {
          level += 1;
        } else if (--level == 0) {
          out_depth = 0;
          out_resume = at + bit + 1;
          return at + bit + 1;
        }
      }
    }
    if (k <= 64) {
      out_depth = level;
      /* The byte before `stop` outside a string: the loop ends at `stop`. */
      if (((in_string >> (k - 1)) & 1) == 0) {
        out_resume = stop;
        return -1;
      }
      /* Else it ends past the string that runs over `stop`, or asks for the next window. */
      u64 quotes_before = quote & live;
      i32 opener = quotes_before != 0 ? at + 63 - __builtin_clzll(quotes_before) : open_quote;
      i32 end = string_end(len, opener + 1);
      out_resume = end < 0 ? -(opener + 1) : end;
      return -1;
    }
    if (quote != 0 && (in_string >> 63) != 0) open_quote = at + 63 - __builtin_clzll(quote);
    inside = (u64)0 - (in_string >> 63);
  }
  out_depth = level;
  out_resume = from;
  return -1;
}

static i32 string_end_bytewise(const unsigned char *w, i32 len, i32 from) {
  i32 at = from;
  for (; at < len; at += 1) {
    if (w[at] == '"') return at + 1;
    if (w[at] == '\\') at += 1;
  }
  return -(at + 1);
}

static i32 container_end_bytewise(const unsigned char *w, i32 len, i32 from, i32 stop, i32 depth) {
  i32 level = depth;
  i32 index = from;
  while (index < stop) {
    unsigned char byte = w[index];
    if (byte == '"') {
      i32 end = string_end_bytewise(w, len, index + 1);
      if (end < 0) {
        out_depth = level;
        out_resume = -(index + 1);
        return -1;
      }
      index = end;
    } else {
      if (byte == '{' || byte == '[') {
        level += 1;
      } else if (byte == '}' || byte == ']') {
        level -= 1;
        if (level == 0) {
          out_depth = 0;
          out_resume = index + 1;
          return index + 1;
        }
      }
      index += 1;
    }
  }
  out_depth = level;
  out_resume = index;
  return -1;
}
