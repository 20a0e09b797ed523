// The JSON API, the only thing these pages talk to. The secret travels in
// the Authorization header and lives in sessionStorage: never in a URL.

/** The server answered with an error (application/problem+json). */
export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.type = problem?.type || 'error';
    this.problem = problem || {};
    this.retryAfter = retryAfter;
  }
}

/** No answer from the server: offline, connection dropped, or a reply cut
 * short. The request may or may not have reached the server. */
export class NetworkError extends Error {
  constructor(cause) {
    super('no answer from the server', { cause });
    this.name = 'NetworkError';
  }
}

/** A credential kept for this browser tab only (sessionStorage; in memory
 * if the browser refuses storage). */
export class Secret {
  constructor(storageKey) {
    this.storageKey = storageKey;
    this.memory = '';
  }

  get value() {
    try {
      return sessionStorage.getItem(this.storageKey) ?? this.memory;
    } catch {
      return this.memory;
    }
  }

  set value(secret) {
    this.memory = secret;
    try {
      if (secret) sessionStorage.setItem(this.storageKey, secret);
      else sessionStorage.removeItem(this.storageKey);
    } catch {
      // storage refused: the memory copy lasts until the page reloads
    }
  }
}

export class Api {
  constructor(secret) {
    this.secret = secret;
  }

  /** `{status, body}` for 2xx; throws ApiError, NetworkError or AbortError. */
  async call(method, path, { body, signal } = {}) {
    const headers = { Accept: 'application/json', Authorization: `Bearer ${this.secret.value}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: 'no-store',
        credentials: 'omit',
        redirect: 'error',
      });
    } catch (error) {
      if (error.name === 'AbortError') throw error;
      throw new NetworkError(error);
    }
    const parsed = await readJson(response, signal);
    if (!response.ok) {
      throw new ApiError(response.status, parsed, Number(response.headers.get('Retry-After')) || 0);
    }
    return { status: response.status, body: parsed };
  }

  get(path, options) {
    return this.call('GET', path, options);
  }

  post(path, body, options) {
    return this.call('POST', path, { ...options, body });
  }

  patch(path, body, options) {
    return this.call('PATCH', path, { ...options, body });
  }
}

async function readJson(response, signal) {
  if (response.status === 204) return null;
  const type = response.headers.get('Content-Type') || '';
  try {
    if (type.includes('json')) return await response.json();
    await response.arrayBuffer();
    return null;
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new NetworkError(error);
  }
}

/** `path` with the query parameters that are set. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** Path segment for an id from the server. */
export function seg(id) {
  return encodeURIComponent(id);
}
