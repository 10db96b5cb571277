import { writeFileSync } from 'node:fs';

// Preloaded (`node --import`) into a child process under test: on exit it writes the peak
// resident set size in KiB to MAX_RSS_FILE, so a test can check memory stayed bounded.
const file = process.env.MAX_RSS_FILE;
if (file !== undefined) {
  process.on('exit', () => {
    writeFileSync(file, String(process.resourceUsage().maxRSS));
  });
}
