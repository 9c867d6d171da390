// The README walk-through as Postman requests: the collection's first
// folder. Each step says which gateway it goes through ({{writeBaseUrl}}:
// South America's, where auth and the writer run; {{baseUrl}}: the
// environment's region, where the read happens) and what its test script
// keeps for the next steps (tokens, the consistency token, the review).
//
// Scripts use the `pm` API, which Postman runs and Insomnia translates on
// import. Kept in step with the README's curl version; tests/browser.rs
// runs the same steps from a browser page.

const json = (value) => JSON.stringify(value, null, 2);

const SONY = {
  subject: { kind: 'camera', brand: 'Sony', model: 'A7 IV', specs: { megapixels: 33, mount: 'Sony E' } },
  title: 'La cámara híbrida definitiva',
  summary: 'Foto y video sin concesiones.',
  body: 'Una cámara **excelente** para foto y video.',
  rating: 9,
  pros: ['Autofoco'],
  cons: ['Menús complejos'],
  language: 'es',
};

const NIKON = {
  subject: { kind: 'camera', brand: 'Nikon', model: 'Z6 III', specs: { megapixels: 24.5, mount: 'Nikon Z' } },
  title: 'Nikon Z6 III a fondo',
  body: 'Muy equilibrada.',
  rating: 8.5,
};

// Script lines shared by the steps.
const expectStatus = (code) => [
  `pm.test("answers ${code}", function () {`,
  `  pm.response.to.have.status(${code});`,
  '});',
];
const keepConsistencyToken = [
  '// Read-your-writes: the next reads send this token, in any region.',
  'pm.environment.set("consistencyToken", pm.response.headers.get("X-Consistency-Token"));',
];

/** The steps, in order: name, request and test script lines. */
export const steps = [
  {
    name: '1. The admin logs in',
    method: 'POST',
    base: 'writeBaseUrl',
    path: ['auth', 'login'],
    auth: 'none',
    body: json({ email: '{{adminEmail}}', password: '{{adminPassword}}' }),
    test: [...expectStatus(200), 'pm.environment.set("adminToken", pm.response.json().access_token);'],
  },
  {
    name: '2. The admin creates an editor',
    method: 'POST',
    base: 'writeBaseUrl',
    path: ['auth', 'editors'],
    auth: 'adminToken',
    body: json({ email: '{{editorEmail}}', name: 'Ana Souza', password: '{{editorPassword}}' }),
    test: expectStatus(201),
  },
  {
    name: '3. The editor logs in',
    method: 'POST',
    base: 'writeBaseUrl',
    path: ['auth', 'login'],
    auth: 'none',
    body: json({ email: '{{editorEmail}}', password: '{{editorPassword}}' }),
    test: [...expectStatus(200), 'pm.environment.set("editorToken", pm.response.json().access_token);'],
  },
  {
    name: '4. The editor publishes a review (Idempotency-Key: sending it again replays it)',
    method: 'POST',
    base: 'writeBaseUrl',
    path: ['reviews'],
    auth: 'editorToken',
    headers: [['Idempotency-Key', 'walkthrough-1']],
    body: json(SONY),
    test: [
      ...expectStatus(201),
      ...keepConsistencyToken,
      'pm.environment.set("reviewId", pm.response.json().id);',
      'pm.environment.set("reviewSlug", pm.response.json().slug);',
    ],
  },
  {
    name: "5. Read it back in this environment's region at once, thanks to the token",
    method: 'GET',
    base: 'baseUrl',
    path: ['content', '{{reviewSlug}}'],
    auth: 'none',
    headers: [['X-Consistency-Token', '{{consistencyToken}}']],
    test: [
      ...expectStatus(200),
      'pm.test("served by this region", function () {',
      '  pm.expect(pm.response.headers.get("X-Region")).to.eql(pm.environment.get("region"));',
      '});',
    ],
  },
  {
    name: '6. Search in Spanish, accents optional',
    method: 'GET',
    base: 'baseUrl',
    path: ['content'],
    query: [['q', 'camara']],
    auth: 'none',
    headers: [['X-Consistency-Token', '{{consistencyToken}}']],
    test: [
      ...expectStatus(200),
      'pm.test("finds the review", function () {',
      '  pm.expect(pm.response.json().data.map(function (r) { return r.slug; })).to.include(pm.environment.get("reviewSlug"));',
      '});',
    ],
  },
  {
    name: '7a. Review a second camera',
    method: 'POST',
    base: 'writeBaseUrl',
    path: ['reviews'],
    auth: 'editorToken',
    body: json(NIKON),
    test: [...expectStatus(201), ...keepConsistencyToken],
  },
  {
    name: '7b. Compare the two cameras',
    method: 'GET',
    base: 'baseUrl',
    path: ['content', 'compare'],
    query: [['subjects', 'sony-a7-iv,nikon-z6-iii']],
    auth: 'none',
    headers: [['X-Consistency-Token', '{{consistencyToken}}']],
    test: [
      ...expectStatus(200),
      'pm.test("compares two subjects", function () {',
      '  pm.expect(pm.response.json().subjects).to.have.lengthOf(2);',
      '});',
    ],
  },
  {
    name: '8a. Retract the first review',
    method: 'DELETE',
    base: 'writeBaseUrl',
    path: ['reviews', '{{reviewId}}'],
    auth: 'editorToken',
    test: [...expectStatus(204), ...keepConsistencyToken],
  },
  {
    name: '8b. Gone from /content in this region',
    method: 'GET',
    base: 'baseUrl',
    path: ['content', '{{reviewSlug}}'],
    auth: 'none',
    headers: [['X-Consistency-Token', '{{consistencyToken}}']],
    test: expectStatus(404),
  },
];

/** The environment variables the walk-through and the generated requests use. */
export const variables = [
  ['adminEmail', 'admin@rcr.local', 'default', 'The admin `make run` creates'],
  ['adminPassword', '', 'secret', 'From .local/secrets/admin-password (make run prints it)'],
  ['editorEmail', 'ana@example.com', 'default', 'The editor the walk-through creates'],
  ['editorPassword', 'a long enough password', 'secret', 'Their password'],
  ['accessToken', '', 'secret', 'Bearer token of the generated requests: set by "Log in" from its answer'],
  ['refreshToken', '', 'secret', 'Set by "Log in" and "Rotate a refresh token"'],
  ['adminToken', '', 'secret', 'Set by walk-through step 1'],
  ['editorToken', '', 'secret', 'Set by walk-through step 3'],
  ['consistencyToken', '', 'default', "The last write's X-Consistency-Token (walk-through steps 4, 7a, 8a)"],
  ['reviewId', '', 'default', 'The review of walk-through step 4'],
  ['reviewSlug', '', 'default', 'Its slug'],
];
