// The README walk-through as a web page runs it: fetch() from this page's
// origin to the gateways of two regions, reading the headers the gateways
// expose to browsers (X-Consistency-Token, X-Region, Idempotent-Replayed,
// Location, ETag). tests/browser.rs checks what `walkthrough()` returns:
// one record per request, with what the page could read of the answer.
// A request the browser refuses (a CORS failure) is recorded with its
// error instead of a status.

/* exported walkthrough */
async function walkthrough(config) {
  const { sa, eu, adminEmail, adminPassword } = config;
  const records = [];
  const log = document.getElementById("log");

  // One request: records and returns what the page can read of the answer.
  async function call(step, base, method, path, options = {}) {
    const headers = {};
    if (options.token) headers["Authorization"] = `Bearer ${options.token}`;
    if (options.json !== undefined) headers["Content-Type"] = "application/json";
    Object.assign(headers, options.headers || {});
    const record = { step, method, url: base + path, origin: location.origin };
    try {
      const response = await fetch(base + path, {
        method,
        headers,
        body: options.json === undefined ? undefined : JSON.stringify(options.json),
        mode: "cors",
        credentials: "omit",
      });
      record.status = response.status;
      record.headers = {};
      for (const name of [
        "Content-Type",
        "ETag",
        "Location",
        "X-Consistency-Token",
        "X-Request-Id",
        "X-Region",
        "X-Served-From",
        "Idempotent-Replayed",
      ]) {
        const value = response.headers.get(name);
        if (value !== null) record.headers[name.toLowerCase()] = value;
      }
      const text = await response.text();
      try {
        record.body = text ? JSON.parse(text) : null;
      } catch {
        record.body = text;
      }
    } catch (error) {
      record.error = String(error);
    }
    records.push(record);
    log.textContent += `${step}: ${record.status ?? record.error}\n`;
    return record;
  }
  const tokenOf = (record) => (record.headers || {})["x-consistency-token"];
  const consistency = (token) => (token ? { "X-Consistency-Token": token } : {});

  const sony = {
    subject: { kind: "camera", brand: "Sony", model: "A7 IV", specs: { megapixels: 33, mount: "Sony E" } },
    title: "La cámara híbrida definitiva",
    summary: "Foto y video sin concesiones.",
    body: "Una cámara **excelente** para foto y video.",
    rating: 9,
    pros: ["Autofoco"],
    cons: ["Menús complejos"],
    language: "es",
  };
  const nikon = {
    subject: { kind: "camera", brand: "Nikon", model: "Z6 III", specs: { megapixels: 24.5, mount: "Nikon Z" } },
    title: "Nikon Z6 III a fondo",
    body: "Muy equilibrada.",
    rating: 8.5,
  };

  // 1. The admin logs in. 2. The admin creates an editor. 3. The editor logs in.
  const admin = await call("admin login", sa, "POST", "/auth/login", {
    json: { email: adminEmail, password: adminPassword },
  });
  const adminToken = admin.body && admin.body.access_token;
  await call("create editor", sa, "POST", "/auth/editors", {
    token: adminToken,
    json: { email: "ana@example.com", name: "Ana Souza", password: "a long enough password" },
  });
  const login = await call("editor login", sa, "POST", "/auth/login", {
    json: { email: "ana@example.com", password: "a long enough password" },
  });
  const editor = login.body && login.body.access_token;

  // 4. The editor publishes (its answer carries X-Consistency-Token); the
  // same request again with the same Idempotency-Key is a replay.
  const idempotent = { "Idempotency-Key": "walkthrough-1" };
  const published = await call("publish", sa, "POST", "/reviews", { token: editor, headers: idempotent, json: sony });
  await call("publish again", sa, "POST", "/reviews", { token: editor, headers: idempotent, json: sony });
  const slug = (published.body && published.body.slug) || "la-camara-hibrida-definitiva";

  // 5. Read it back in Europe at once, thanks to the token. 6. Search.
  await call("read in eu", eu, "GET", `/content/${slug}`, { headers: consistency(tokenOf(published)) });
  await call("search in eu", eu, "GET", "/content?q=camara", { headers: consistency(tokenOf(published)) });

  // 7. Review a second camera, then compare the two.
  const second = await call("publish second", sa, "POST", "/reviews", { token: editor, json: nikon });
  await call("compare in eu", eu, "GET", "/content/compare?subjects=sony-a7-iv,nikon-z6-iii", {
    headers: consistency(tokenOf(second)),
  });

  // 8. Retract the first review: gone from /content in Europe.
  const own = await call("own reviews", sa, "GET", "/reviews", { token: editor });
  const mine = ((own.body && own.body.data) || []).find((r) => r.slug === slug);
  const id = mine ? mine.id : 0;
  const retracted = await call("retract", sa, "DELETE", `/reviews/${id}`, { token: editor });
  await call("gone in eu", eu, "GET", `/content/${slug}`, { headers: consistency(tokenOf(retracted)) });

  return records;
}
