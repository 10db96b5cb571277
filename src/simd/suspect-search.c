/*
 * The suspect search of redaction by suspects (src/redaction/redact-stored-json.ts) with
 * WebAssembly SIMD: every place in a window of JSON bytes where one of a set of "class strings"
 * matches, a class string being a sequence of byte sets (src/redaction/suspect-classes.ts builds
 * them from the same names as the suspect patterns, one per alternative of the patterns, with
 * the case folding of their `i` flag).
 *
 * A Teddy filter (as in Hyperscan and Rust's regex) screens 16 positions at once: the first
 * three bytes at each position are looked up by nibble in tables that give a bit per bucket of
 * class strings (16 buckets, in two sets of tables of 8); a position where every byte keeps a
 * bucket's bit is checked against that bucket's class strings in full.
 *
 * Build: scripts/build-wasm.sh (clang with the wasm32 target, and wasm-ld).
 */
#include <stdint.h>
#include <wasm_simd128.h>

typedef int32_t i32;
typedef uint8_t u8;

extern unsigned char __heap_base;

/* Memory the caller lays out from here: the classes, then each window and the matches found. */
__attribute__((export_name("memoryStart"))) unsigned char *memory_start(void) { return &__heap_base; }

/*
 * The classes, as the caller writes them (all offsets in bytes from `classes`):
 *   0: u8 low[2][3][16], then u8 high[2][3][16]: the Teddy tables, a bit per bucket (buckets
 *      0-7 in the first set, 8-15 in the second);
 *   192: i32 bucket_start[17]: bucket b holds class strings bucket_start[b] to bucket_start[b+1] - 1;
 *   260: i32 count, then per class string: i32 length, i32 offset of its sets (32 bytes each).
 */
typedef struct {
  u8 low[2][3][16];
  u8 high[2][3][16];
  i32 bucket_start[17];
  i32 count;
  i32 strings[]; /* length, sets offset */
} classes_t;

static inline i32 in_set(const u8 *set, u8 byte) { return (set[byte >> 3] >> (byte & 7)) & 1; }

/* The length of the longest class string of `bucket` that matches at `text` (`room` bytes left), or 0. */
static i32 longest_match(const classes_t *c, i32 bucket, const u8 *text, i32 room) {
  const u8 *base = (const u8 *)c;
  i32 longest = 0;
  for (i32 s = c->bucket_start[bucket]; s < c->bucket_start[bucket + 1]; s += 1) {
    i32 length = c->strings[2 * s];
    if (length > room || length <= longest) continue;
    const u8 *sets = base + c->strings[2 * s + 1];
    i32 j = 0;
    while (j < length && in_set(sets + 32 * j, text[j])) j += 1;
    if (j == length) longest = length;
  }
  return longest;
}

/*
 * Searches `text` (`length` bytes, with 16 readable bytes after them) for class strings that
 * start before `to` and end within `length`. Writes, for each such start in order, the start
 * and the end of the longest one there (two i32) to `out`, and returns how many starts.
 */
__attribute__((export_name("search"))) i32 search(const classes_t *c, const u8 *text, i32 length, i32 to, i32 *out) {
  v128_t low[2][3], high[2][3];
  for (i32 set = 0; set < 2; set += 1) {
    for (i32 position = 0; position < 3; position += 1) {
      low[set][position] = wasm_v128_load(c->low[set][position]);
      high[set][position] = wasm_v128_load(c->high[set][position]);
    }
  }
  v128_t nibble = wasm_i8x16_splat(0x0f);
  v128_t zero = wasm_i8x16_splat(0);
  i32 found = 0;
  u8 first[16], second[16];
  for (i32 at = 0; at < to; at += 16) {
    v128_t lows[3], highs[3];
    for (i32 position = 0; position < 3; position += 1) {
      v128_t bytes = wasm_v128_load(text + at + position);
      lows[position] = wasm_v128_and(bytes, nibble);
      highs[position] = wasm_u8x16_shr(bytes, 4);
    }
    v128_t m[2];
    for (i32 set = 0; set < 2; set += 1) {
      m[set] = wasm_v128_and(wasm_i8x16_swizzle(low[set][0], lows[0]), wasm_i8x16_swizzle(high[set][0], highs[0]));
      m[set] = wasm_v128_and(m[set], wasm_i8x16_swizzle(low[set][1], lows[1]));
      m[set] = wasm_v128_and(m[set], wasm_i8x16_swizzle(high[set][1], highs[1]));
      m[set] = wasm_v128_and(m[set], wasm_i8x16_swizzle(low[set][2], lows[2]));
      m[set] = wasm_v128_and(m[set], wasm_i8x16_swizzle(high[set][2], highs[2]));
    }
    i32 hits = wasm_i8x16_bitmask(wasm_i8x16_ne(wasm_v128_or(m[0], m[1]), zero));
    if (hits == 0) continue;
    wasm_v128_store(first, m[0]);
    wasm_v128_store(second, m[1]);
    for (; hits != 0; hits &= hits - 1) {
      i32 lane = __builtin_ctz(hits);
      i32 start = at + lane;
      if (start >= to) break;
      i32 longest = 0;
      for (i32 bits = first[lane] | (second[lane] << 8); bits != 0; bits &= bits - 1) {
        i32 here = longest_match(c, __builtin_ctz(bits), text + start, length - start);
        if (here > longest) longest = here;
      }
      if (longest > 0) {
        out[2 * found] = start;
        out[2 * found + 1] = start + longest;
        found += 1;
      }
    }
  }
  return found;
}
