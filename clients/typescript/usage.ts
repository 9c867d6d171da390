// The README walk-through with the typed client: compiled by the clients
// check (`tsc --noEmit -p clients`) so that a change to a document that
// breaks callers fails the build. An example to copy from, not run.

import { api, consistencyToken, LOCAL_GATEWAYS, type NewReview, type Review } from "./index.js";

export async function walkthrough(adminPassword: string): Promise<Review | undefined> {
  let token: string | undefined;
  const sa = api({ baseUrl: LOCAL_GATEWAYS.sa, accessToken: () => token });
  const eu = api({ baseUrl: LOCAL_GATEWAYS.eu });

  // 1. The admin logs in; 2. creates an editor; 3. the editor logs in.
  const admin = await sa.auth.POST("/auth/login", { body: { email: "admin@rcr.local", password: adminPassword } });
  if (!admin.data) throw new Error(`login: ${admin.error?.code}`);
  token = admin.data.access_token;
  const editor = await sa.auth.POST("/auth/editors", {
    body: { email: "ana@example.com", name: "Ana Souza", password: "a long enough password" },
  });
  if (editor.error) throw new Error(`create editor: ${editor.error.code} ${editor.error.detail ?? ""}`);
  const login = await sa.auth.POST("/auth/login", {
    body: { email: "ana@example.com", password: "a long enough password" },
  });
  if (!login.data) throw new Error(`editor login: ${login.error?.code}`);
  token = login.data.access_token;

  // 4. Publish, with an Idempotency-Key so that a retry cannot publish twice.
  const review: NewReview = {
    subject: { kind: "camera", brand: "Sony", model: "A7 IV", specs: { megapixels: 33, mount: "Sony E" } },
    title: "La cámara híbrida definitiva",
    body: "Una cámara **excelente** para foto y video.",
    rating: 9,
    language: "es",
  };
  const published = await sa.reviews.POST("/reviews", {
    body: review,
    params: { header: { "Idempotency-Key": "walkthrough-1" } },
  });
  if (!published.data) throw new Error(`publish: ${published.error?.code}`);
  const { id, slug } = published.data;
  let read = consistencyToken(published.response);

  // 5. Read it back in Europe at once, thanks to the token.
  const header = () => (read === undefined ? {} : { "X-Consistency-Token": read });
  const back = await eu.content.GET("/content/{slug_or_id}", {
    params: { path: { slug_or_id: slug }, header: header() },
  });
  console.log(back.response.headers.get("X-Region"), back.data?.title, back.data?.editor.name);

  // 6. Search; 7. compare.
  const found = await eu.content.GET("/content", { params: { query: { q: "camara" }, header: header() } });
  console.log(found.data?.data.map((r) => r.title), found.data?.next_cursor);
  const compared = await eu.content.GET("/content/compare", {
    params: { query: { subjects: ["sony-a7-iv", "nikon-z6-iii"] }, header: header() },
  });
  console.log(compared.data?.subjects.map((s) => [s.subject.slug, s.average_rating]));

  // 8. Retract: gone from /content (404 problem+json).
  const retracted = await sa.reviews.DELETE("/reviews/{id}", { params: { path: { id } } });
  read = consistencyToken(retracted.response) ?? read;
  const gone = await eu.content.GET("/content/{slug_or_id}", {
    params: { path: { slug_or_id: slug }, header: header() },
  });
  if (gone.error) console.log(gone.response.status, gone.error.code);
  return back.data;
}
