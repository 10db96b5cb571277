/** Placeholder replaced by the demo implementation. */
export function runDemo(options: { tasks: number; env: NodeJS.ProcessEnv }): Promise<number> {
  void options;
  return Promise.resolve(1);
}
