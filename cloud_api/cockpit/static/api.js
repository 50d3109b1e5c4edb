// Same-origin calls to the Steward API with the session cookie. Unsafe methods carry
// "X-Steward-Request: 1" (the API refuses a cookie-authenticated write without it: CSRF).
// A 401 outside the login call hands over to the login form (onUnauthorized).

export class ApiError extends Error {
  constructor(status, detail, body, retryAfter) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

let unauthorized = () => {};
export function onUnauthorized(handler) {
  unauthorized = handler;
}

function urlOf(path, params) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    if (value === undefined || value === null) continue;
    for (const one of Array.isArray(value) ? value : [value]) {
      url.searchParams.append(name, String(one));
    }
  }
  return url;
}

function detailOf(body, status) {
  if (body && typeof body === "object" && body.detail !== undefined) {
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  }
  if (typeof body === "string" && body) return body.slice(0, 300);
  return `HTTP ${status}`;
}

async function request(method, path, { params, body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-Steward-Request"] = "1";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(urlOf(path, params), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const text = response.status === 204 ? "" : await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const error = new ApiError(
      response.status,
      detailOf(data, response.status),
      data,
      response.headers.get("Retry-After"),
    );
    if (response.status === 401 && !path.startsWith("/v1/session")) unauthorized(error);
    throw error;
  }
  return data;
}

export const api = {
  get: (path, params) => request("GET", path, { params }),
  post: (path, body) => request("POST", path, { body }),
  del: (path) => request("DELETE", path),
  url: (path, params) => urlOf(path, params).toString(),
};
