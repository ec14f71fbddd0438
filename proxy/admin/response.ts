// An admin response before it is written: status, content type, body. Handlers build these; server.ts writes them.

export const TEXT = "text/plain; charset=UTF-8";
export const JSON_TYPE = "application/json";
export const HTML = "text/html; charset=UTF-8";

export interface AdminResponse {
  status: number;
  contentType: string;
  body: string;
  /** Extra response headers (e.g. the dashboard's content-security-policy). */
  headers?: Readonly<Record<string, string>>;
  /** Runs once the response has been written (e.g. `/quitquitquit` exits only after answering). */
  after?: () => void;
}

export function text(body: string, status = 200): AdminResponse {
  return { status, contentType: TEXT, body };
}

export function json(value: unknown, status = 200): AdminResponse {
  return { status, contentType: JSON_TYPE, body: `${JSON.stringify(value, null, 2)}\n` };
}
