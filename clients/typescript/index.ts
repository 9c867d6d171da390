// Typed clients of the three services, through a gateway. The types
// (auth.ts, reviews.ts, content.ts) are generated from the services'
// OpenAPI documents by clients/generate.mjs; this file is written by hand.
//
//   import { api, consistencyToken, LOCAL_GATEWAYS } from "./index.js";
//   const sa = api({ baseUrl: LOCAL_GATEWAYS.sa, accessToken: () => session.token });
//   const { data, error, response } = await sa.reviews.POST("/reviews", { body, params: { header: { "Idempotency-Key": key } } });
//
// Every call answers `{ data, error, response }`: `data` typed by the
// document's success answer, `error` by its problem+json answers, and
// `response` the fetch Response, for headers such as X-Consistency-Token.
// The gateways allow browser pages from their configured origins (CORS,
// README "The gateways") and expose the headers below to them.

import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";

import type { components as AuthComponents, paths as AuthPaths } from "./auth.js";
import type { components as ContentComponents, paths as ContentPaths } from "./content.js";
import type { components as ReviewsComponents, paths as ReviewsPaths } from "./reviews.js";

export type { AuthComponents, AuthPaths, ContentComponents, ContentPaths, ReviewsComponents, ReviewsPaths };

/** The gateways `make run` starts, one per region. */
export const LOCAL_GATEWAYS = {
  sa: "http://127.0.0.1:8000",
  na: "http://127.0.0.1:8001",
  eu: "http://127.0.0.1:8002",
  asia: "http://127.0.0.1:8003",
} as const;

export type Region = keyof typeof LOCAL_GATEWAYS;

/** Shapes clients handle most, by their names in the documents. */
export type Editor = AuthComponents["schemas"]["Editor"];
export type TokenPair = AuthComponents["schemas"]["TokenPair"];
export type NewReview = ReviewsComponents["schemas"]["NewReview"];
export type ReviewPatch = ReviewsComponents["schemas"]["ReviewPatch"];
export type Review = ContentComponents["schemas"]["Review"];
export type ReviewListItem = ContentComponents["schemas"]["ReviewListItem"];
export type Comparison = ContentComponents["schemas"]["Comparison"];
export type Problem = ContentComponents["schemas"]["Problem"];

/** A bearer token, or a function asked for the current one before every request. */
export type AccessToken = string | (() => string | undefined | Promise<string | undefined>);

export interface ApiOptions extends Omit<ClientOptions, "baseUrl"> {
  /**
   * A gateway's origin. Every regional gateway routes /auth and /reviews to
   * South America and /content to its own region's readers: write through
   * any, read through the nearest.
   */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …` to auth and the writer. */
  accessToken?: AccessToken;
}

function bearer(token: AccessToken): Middleware {
  return {
    async onRequest({ request }) {
      const value = typeof token === "function" ? await token() : token;
      if (value) request.headers.set("Authorization", `Bearer ${value}`);
      return request;
    },
  };
}

function client<Paths extends {}>({ accessToken, ...options }: ApiOptions): Client<Paths> {
  // The documents' array parameters (compare's `subjects`) are
  // comma-separated: `style: form, explode: false`.
  const created = createClient<Paths>({ querySerializer: { array: { style: "form", explode: false } }, ...options });
  if (accessToken !== undefined) created.use(bearer(accessToken));
  return created;
}

/** auth: logins, token rotation, the caller's account, editor administration, JWKS. */
export const authClient = (options: ApiOptions): Client<AuthPaths> => client<AuthPaths>(options);

/** reviews-writer: creating, editing and retracting reviews (editors). */
export const reviewsClient = (options: ApiOptions): Client<ReviewsPaths> => client<ReviewsPaths>(options);

/** content-reader: every public read (anonymous; no token is ever sent). */
export const contentClient = ({ accessToken: _unused, ...options }: ApiOptions): Client<ContentPaths> =>
  client<ContentPaths>(options);

/** The three clients on one gateway. */
export function api(options: ApiOptions): {
  auth: Client<AuthPaths>;
  reviews: Client<ReviewsPaths>;
  content: Client<ContentPaths>;
} {
  return { auth: authClient(options), reviews: reviewsClient(options), content: contentClient(options) };
}

/**
 * The `X-Consistency-Token` a write answered: send it with the next reads
 * (`params.header`), in any region, to read that write (read-your-writes).
 */
export function consistencyToken(response: Response): string | undefined {
  return response.headers.get("X-Consistency-Token") ?? undefined;
}
