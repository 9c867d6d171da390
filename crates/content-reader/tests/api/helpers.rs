//! Starting a reader for a test — beside a real auth service and a real
//! writer, all on one fresh database of a real primary + streaming replica
//! and a real Redis — and talking to them over HTTP.

use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use awc::http::header::HeaderMap;
use awc::http::{Method, StatusCode};
use content_reader::settings::NodeSettings;
use platform::settings::Secret;
use serde_json::{Value, json};
use test_support::http::login;
use test_support::services::{self, ADMIN_EMAIL, ADMIN_PASSWORD, CURSOR_SECRET, KeysDir};
use test_support::{TestCluster, TestDatabase};

pub use test_support::http::{Answer, client_with_timeout, read};
pub use test_support::services::CONSISTENCY_SECRET;

/// How long a test waits for something eventually consistent (replication
/// plus a version poll). Bounds wait loops only; never asserted as a timing.
pub const EVENTUALLY: Duration = Duration::from_secs(20);

/// What the reader's answers carry beyond every service's.
pub trait ReaderAnswer {
    /// Asserts a 400 `invalid_parameter` whose first error names `field`.
    fn assert_invalid_parameter(&self, field: &str);
    fn served_from(&self) -> &str;
    /// The `data` array of a list answer.
    fn data(&self) -> &Vec<Value>;
    /// The ids of the items of a list answer.
    fn ids(&self) -> Vec<i64>;
    /// The ids of a list answer, or the id of a detail answer.
    fn ids_or_id(&self) -> Vec<i64>;
    fn next_cursor(&self) -> Option<String>;
    /// The `X-Consistency-Token` of a write answer.
    fn consistency_token(&self) -> String;
}

impl ReaderAnswer for Answer {
    fn assert_invalid_parameter(&self, field: &str) {
        self.assert_problem(400, "invalid_parameter");
        assert_eq!(self.body["errors"][0]["field"], field, "{:?}", self.body);
    }

    fn served_from(&self) -> &str {
        self.header("x-served-from").unwrap_or("<missing>")
    }

    fn data(&self) -> &Vec<Value> {
        self.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("no data array: {:?}", self.body))
    }

    fn ids(&self) -> Vec<i64> {
        self.data()
            .iter()
            .map(|item| item["id"].as_i64().expect("item id"))
            .collect()
    }

    fn ids_or_id(&self) -> Vec<i64> {
        match self.body["id"].as_i64() {
            Some(id) => vec![id],
            None => self.ids(),
        }
    }

    fn next_cursor(&self) -> Option<String> {
        self.body["next_cursor"].as_str().map(str::to_owned)
    }

    fn consistency_token(&self) -> String {
        self.header("x-consistency-token")
            .unwrap_or_else(|| panic!("no X-Consistency-Token: {:?}", self.headers))
            .to_owned()
    }
}

/// An answer with its body as sent: a compressed body stays compressed.
#[derive(Debug, Clone)]
pub struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Raw {
    /// A header's value, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A running reader.
pub struct Reader {
    pub address: String,
}

/// A reader, its writer and auth, on one fresh database, and a logged-in
/// admin who publishes.
pub struct TestApp {
    pub reader: Reader,
    pub writer_address: String,
    pub db: TestDatabase,
    /// The signing keys of its auth service, removed with the app.
    _keys_dir: KeysDir,
    pub token: String,
    pub admin_id: i64,
    /// The settings the first reader was built with (for extra readers).
    pub reader_settings: content_reader::Settings,
    client: awc::Client,
}

/// A unique lowercase word, for queries that must be cold in every cache
/// and titles that tests find their rows by.
pub fn unique_word(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// A valid review of `brand model` (a camera) titled `title`.
pub fn review_body(title: &str) -> Value {
    json!({
        "subject": {
            "kind": "camera",
            "brand": "Fujifilm",
            "model": "X-T5",
            "specs": { "mount": "X", "sensor_format": "APS-C", "megapixels": 40.2, "release_year": 2022 }
        },
        "title": title,
        "summary": "A small camera with a big sensor.",
        "body": "## Handling\n\nDials everywhere.",
        "rating": 8.5,
        "pros": ["dials"],
        "cons": ["battery"],
        "language": "en"
    })
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(test_support::cluster(), |_| {}).await
}

/// Starts auth, the writer and a reader on a fresh database of `cluster`;
/// `adjust` changes the reader's settings before it is built.
pub async fn spawn_app_on(
    cluster: &TestCluster,
    adjust: impl FnOnce(&mut content_reader::Settings),
) -> TestApp {
    let db = cluster.fresh_database().await;
    // Every test database starts at content version 0 and every reader of
    // the suite shares one Redis whose keys hold region + version: start
    // each database at its own version so that tests never read each
    // other's cache entries.
    let base: i64 = i64::from(rand_u32()) * 1_000 + 1;
    db.primary_client()
        .await
        .execute("UPDATE content_state SET version = $1", &[&base])
        .await
        .expect("content version set");
    wait_for_replica_version(&db, base).await;

    let keys_dir = KeysDir::generate("reader");
    let auth_settings = services::supporting_auth_settings(cluster, &db, &keys_dir);
    let admin_id = services::insert_admin(&db, &auth_settings).await;
    let auth = services::start_auth(auth_settings).await;

    // The writer only publishes what the reader reads.
    let mut writer = services::writer_settings(&db, &auth);
    writer.http.workers = 1;
    let writer = services::start_writer(writer).await;

    let mut settings = content_reader::Settings::default();
    settings.http.port = 0;
    settings.http.workers = 2;
    settings.region = "eu".into();
    settings.replicas = vec![NodeSettings {
        name: "r1".into(),
        url: Secret::new(db.replica_url()),
    }];
    settings.primary_url = Some(Secret::new(db.primary_url()));
    settings.redis.url = Secret::new(cluster.redis().url());
    settings.consistency.secret = Secret::new(CONSISTENCY_SECRET);
    settings.cursor.secret = Secret::new(CURSOR_SECRET);
    settings.routing.check_interval_ms = 100;
    settings.routing.max_lag_ms = 1_000;
    adjust(&mut settings);
    let reader = start_reader(settings.clone()).await;

    let client = client_with_timeout(Duration::from_secs(30));
    let token = login(&client, &auth.address, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    TestApp {
        reader,
        writer_address: writer.address,
        db,
        _keys_dir: keys_dir,
        token,
        admin_id,
        reader_settings: settings,
        client,
    }
}

/// Some randomness without another dependency.
fn rand_u32() -> u32 {
    let bytes = uuid::Uuid::new_v4();
    let b = bytes.as_bytes();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) >> 2
}

async fn wait_for_replica_version(db: &TestDatabase, version: i64) {
    let replica = db.replica_client().await;
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let seen: i64 = replica
            .query_one("SELECT version FROM content_state", &[])
            .await
            .expect("replica version")
            .get(0);
        if seen >= version {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never reached content version {version}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Builds and runs a reader, waiting until it is ready when some node is
/// configured.
pub async fn start_reader(settings: content_reader::Settings) -> Reader {
    let expect_ready = !settings.replicas.is_empty() || settings.primary_url.is_some();
    let app = content_reader::build(settings)
        .await
        .expect("the reader builds");
    let reader = Reader {
        address: services::spawn(app).address,
    };
    if expect_ready {
        let client = client_with_timeout(Duration::from_secs(5));
        let deadline = Instant::now() + EVENTUALLY;
        loop {
            let ready = client
                .get(format!("{}/readyz", reader.address))
                .send()
                .await
                .is_ok_and(|res| res.status() == StatusCode::OK);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "the reader never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    reader
}

impl Reader {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl TestApp {
    /// `GET` on the reader.
    pub async fn get(&self, path: &str) -> Answer {
        self.get_with(path, &[]).await
    }

    /// `GET` on the reader with extra headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.request_on(&self.reader, Method::GET, path, headers)
            .await
    }

    /// Any request to a reader.
    pub async fn request_on(
        &self,
        reader: &Reader,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let req = self.request(reader, method, path, headers);
        read(req.send().await.expect("request sent")).await
    }

    fn request(
        &self,
        reader: &Reader,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> awc::ClientRequest {
        headers.iter().fold(
            self.client.request(method, reader.url(path)),
            |req, (name, value)| req.insert_header((*name, *value)),
        )
    }

    /// `GET` on the reader with extra headers, the body as sent.
    pub async fn raw(&self, path: &str, headers: &[(&str, &str)]) -> Raw {
        self.raw_on(&self.reader, Method::GET, path, headers).await
    }

    /// Any request to a reader, the body as sent.
    pub async fn raw_on(
        &self,
        reader: &Reader,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Raw {
        let req = self.request(reader, method, path, headers);
        let mut res = req.send().await.expect("request sent");
        let body = res.body().limit(16 * 1024 * 1024).await.expect("body");
        Raw {
            status: res.status(),
            headers: res.headers().clone(),
            body,
        }
    }

    /// `GET` with the read-your-writes token of a write.
    pub async fn get_after(&self, path: &str, token: &str) -> Answer {
        self.get_with(path, &[("x-consistency-token", token)]).await
    }

    /// `POST /reviews` on the writer, asserting 201.
    pub async fn publish(&self, body: &Value) -> Answer {
        let answer = read(
            self.client
                .post(format!("{}/reviews", self.writer_address))
                .bearer_auth(&self.token)
                .send_json(body)
                .await
                .expect("write sent"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer
    }

    /// Publishes a review titled `title` (a Fujifilm X-T5, in English).
    pub async fn publish_titled(&self, title: &str) -> Answer {
        self.publish(&review_body(title)).await
    }

    /// Any write on the writer as the admin.
    pub async fn write(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        let req = self
            .client
            .request(method, format!("{}{path}", self.writer_address))
            .bearer_auth(&self.token);
        let res = match body {
            Some(body) => req.send_json(body).await,
            None => req.send().await,
        };
        read(res.expect("write sent")).await
    }

    /// Polls `path` (no token) until `done` holds for a 200, and returns
    /// that answer. The deadline only bounds the wait.
    pub async fn eventually(&self, path: &str, done: impl Fn(&Answer) -> bool) -> Answer {
        let deadline = Instant::now() + EVENTUALLY;
        loop {
            let answer = self.get(path).await;
            if answer.status == StatusCode::OK && done(&answer) {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "{path} never satisfied the condition; last answer {} {:?} {:?}",
                answer.status,
                answer.headers,
                answer.body
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the reader's newest-first list shows the review `id`
    /// without a token (replication plus one version poll).
    pub async fn wait_listed(&self, id: i64) {
        self.eventually("/content?limit=100", |a| a.ids().contains(&id))
            .await;
    }

    /// Waits until the replica's startup process holds the `reviews` lock
    /// taken on the primary (a read of reviews there then waits for it).
    pub async fn wait_for_replayed_lock(&self) {
        let replica = self.db.replica_client().await;
        let deadline = Instant::now() + EVENTUALLY;
        loop {
            // `pg_locks` and the `regclass` lookup read catalogs only: this
            // query does not itself wait for the lock.
            let held: bool = replica
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks
                                     WHERE relation = 'reviews'::regclass
                                       AND mode = 'AccessExclusiveLock' AND granted)",
                    &[],
                )
                .await
                .expect("replica locks")
                .get(0);
            if held {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the replica never replayed the lock"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs SQL on the primary.
    pub async fn sql(&self, sql: &str) {
        self.db
            .primary_client()
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Bumps `content_state.version` (after direct SQL changes) and
    /// returns the new version.
    pub async fn bump_version(&self) -> i64 {
        self.db
            .primary_client()
            .await
            .query_one(
                "UPDATE content_state SET version = version + 1 RETURNING version",
                &[],
            )
            .await
            .expect("version bumped")
            .get(0)
    }

    /// Waits until the replica has the primary's content version: a page
    /// read after it is as new as a reader that starts later takes for
    /// fresh (its first poll's version).
    pub async fn wait_replicated(&self) {
        let version: i64 = self
            .db
            .primary_client()
            .await
            .query_one("SELECT version FROM content_state", &[])
            .await
            .expect("primary version")
            .get(0);
        wait_for_replica_version(&self.db, version).await;
    }

    /// Inserts `count` published reviews of one new subject straight into
    /// the primary (bulk data), then bumps the content version. Titles are
    /// `{prefix} {n}`; one in eleven is unrated (sorted after every rated
    /// one); returns the new ids.
    pub async fn insert_reviews(&self, prefix: &str, count: i32) -> Vec<i64> {
        let client = self.db.primary_client().await;
        let slug = format!("bulkbrand-{}", prefix.to_lowercase());
        let subject: i64 = client
            .query_one(
                "INSERT INTO subjects (kind, brand, model, slug) VALUES ('camera', 'Bulkbrand', $1, $2) RETURNING id",
                &[&prefix, &slug],
            )
            .await
            .expect("subject inserted")
            .get(0);
        // Five reviews share each publication time: the id must break ties.
        let rows = client
            .query(
                "INSERT INTO reviews (slug, subject_id, editor_id, title, body, rating, language, status, published_at)
                 SELECT $1 || '-' || g, $2, $3, $4 || ' ' || g, 'Bulk body ' || g,
                        CASE WHEN g % 11 = 0 THEN NULL ELSE (g % 21) * 0.5 END, 'en', 'published',
                        now() - interval '1 day' - (g / 5) * interval '1 minute'
                   FROM generate_series(1, $5) AS g
                 RETURNING id",
                &[&slug, &subject, &self.admin_id, &prefix, &count],
            )
            .await
            .expect("reviews inserted");
        self.bump_version().await;
        rows.iter().map(|r| r.get(0)).collect()
    }

    /// The sum of the samples of `metric` on the reader whose labels
    /// contain every one of `labels` (`name="value"`).
    pub async fn metric(&self, reader: &Reader, metric: &str, labels: &[&str]) -> f64 {
        let text = read(
            self.client
                .get(reader.url("/metrics"))
                .send()
                .await
                .expect("metrics sent"),
        )
        .await;
        assert_eq!(text.status, StatusCode::OK);
        let text = text.body.as_str().unwrap_or_default().to_owned();
        metric_sum(&text, metric, labels)
    }

    /// Waits until the reader's `metric` (summed over its labels) reaches
    /// `at_least`: a read started, a feed version applied.
    pub async fn wait_for_metric(&self, metric: &str, at_least: f64) {
        let deadline = Instant::now() + EVENTUALLY;
        while self.metric(&self.reader, metric, &[]).await < at_least {
            assert!(
                Instant::now() < deadline,
                "{metric} never reached {at_least}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Starts one more reader on the same database, Redis and settings.
    pub async fn another_reader(&self) -> Reader {
        start_reader(self.reader_settings.clone()).await
    }

    /// Starts a reader of another region on the same database and Redis:
    /// it shares no cache entry with this one.
    pub async fn reader_of_region(&self, region: &str) -> Reader {
        let mut settings = self.reader_settings.clone();
        settings.region = region.into();
        start_reader(settings).await
    }
}

/// Takes an `ACCESS EXCLUSIVE` lock on `reviews` in a transaction on
/// `primary`, held until the transaction ends. Replayed on the replica
/// once a commit elsewhere flushes it there (then
/// [`TestApp::wait_for_replayed_lock`]), it holds every read of reviews
/// there.
pub async fn lock_reviews(primary: &mut tokio_postgres::Client) -> tokio_postgres::Transaction<'_> {
    let lock = primary.transaction().await.expect("transaction");
    lock.batch_execute("LOCK TABLE reviews IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("locked");
    lock
}

/// Sums a metric's samples in Prometheus text whose labels include `labels`.
pub fn metric_sum(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let name = series.split('{').next()?;
            (name == metric && labels.iter().all(|l| series.contains(l)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}
