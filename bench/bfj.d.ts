/** The part of bfj (no bundled types) the stringify benchmark uses. */
declare module 'bfj' {
  export interface StringifyOptions {
    /** Data items per timeslice before it yields to the event loop; default 1024. */
    yieldRate?: number;
    /** Length of its internal buffer; default 256. */
    bufferLength?: number;
  }
  /** Serialises `data` asynchronously, yielding to the event loop; resolves to the JSON text. */
  export function stringify(data: unknown, options?: StringifyOptions): Promise<string>;
  const bfj: { stringify: typeof stringify };
  export default bfj;
}
