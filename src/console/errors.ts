/** A refusal of the record console, answered with a fixed French page (never the client's input). */
export class ConsolePageError extends Error {
  constructor(readonly statusCode: number, readonly title: string, readonly text: string) {
    super(title);
  }
}
