// Calls to the console API. A failed call throws an ApiError carrying the RFC 9457 problem document.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// The session's CSRF token (from /api/config), sent with every change the page makes.
let csrfToken = null;

export function useCsrfToken(token) {
  csrfToken = token;
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["x-csrf-token"] = csrfToken;
  let response;
  try {
    response = await fetch(`api${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, { title: "Console unreachable", detail: String(error) });
  }
  if (response.status === 401) {
    // The session expired (or the operator token was rotated): log in again.
    location.assign("login");
    throw new ApiError(401, { title: "Unauthorized", detail: "log in again" });
  }
  const isJson = (response.headers.get("content-type") || "").includes("json");
  const payload = isJson ? await response.json() : { detail: await response.text() };
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}
