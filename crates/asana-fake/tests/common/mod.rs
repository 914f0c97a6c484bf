//! Shared helpers for the HTTP tests: a started fake plus a small JSON client
//! that can record every exchange (for the contract test).

#![allow(dead_code)]

use std::sync::Mutex;

use asana_fake::{FakeAsana, FakeOptions};
use serde_json::Value;

/// One request/response pair seen by [`Client`].
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    /// Path relative to the base URL, without query.
    pub path: String,
    pub request: Option<Value>,
    /// The query string, if any.
    pub query: Option<String>,
    pub status: u16,
    pub response: Value,
}

impl Exchange {
    /// The `opt_fields` entries of the query (or of the body's
    /// `options.fields`), when the request selected fields.
    pub fn opt_fields(&self) -> Option<Vec<String>> {
        let from_query = self.query.as_deref().and_then(|q| {
            query_pairs(q)
                .into_iter()
                .find(|(k, _)| k == "opt_fields")
                .map(|(_, v)| v.split(',').map(str::to_string).collect())
        });
        from_query.or_else(|| {
            self.request
                .as_ref()?
                .pointer("/options/fields")?
                .as_array()
                .map(|f| {
                    f.iter()
                        .map(|x| x.as_str().unwrap_or_default().to_string())
                        .collect()
                })
        })
    }
}

/// Decodes a query string `a=b&c=d` into pairs.
fn query_pairs(q: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{q}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// A started fake and an HTTP client talking to it.
pub struct Client {
    pub fake: FakeAsana,
    pub http: reqwest::Client,
    pub log: Mutex<Vec<Exchange>>,
}

impl Client {
    /// Starts a fake with default options.
    pub async fn new() -> Client {
        Client::with(FakeOptions::default()).await
    }

    /// Starts a fake with `opts`.
    pub async fn with(opts: FakeOptions) -> Client {
        let fake = FakeAsana::start(opts).await.expect("start fake");
        Client {
            fake,
            http: reqwest::Client::new(),
            log: Mutex::new(Vec::new()),
        }
    }

    /// Sends a request with the fake's token; returns status, headers and JSON body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let url = format!("{}{}", self.fake.base_url(), path);
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.http.request(m, url).bearer_auth(self.fake.token());
        if let Some(b) = &body {
            rb = rb.json(b);
        }
        let resp = rb.send().await.expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.log.lock().unwrap().push(Exchange {
            method: method.to_string(),
            path: path.split('?').next().unwrap_or("").to_string(),
            request: body,
            query: path.split_once('?').map(|(_, q)| q.to_string()),
            status,
            response: json.clone(),
        });
        (status, headers, json)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (s, _, b) = self.send("GET", path, None).await;
        (s, b)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, _, b) = self.send("POST", path, Some(body)).await;
        (s, b)
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, _, b) = self.send("PUT", path, Some(body)).await;
        (s, b)
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let (s, _, b) = self.send("DELETE", path, None).await;
        (s, b)
    }

    /// Sends a raw body (not necessarily JSON) with an optional token.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> reqwest::Response {
        let url = format!("{}{}", self.fake.base_url(), path);
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.http.request(m, url);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        rb.send().await.expect("send")
    }

    /// Creates a task in the fake's project and returns its gid.
    pub async fn task(&self, name: &str) -> String {
        let p = self.fake.project_gid();
        let (s, b) = self
            .post(
                "/tasks",
                serde_json::json!({"data": {"name": name, "projects": [p]}}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["data"]["gid"].as_str().expect("gid").to_string()
    }

    /// URL of the fake's control API.
    pub fn control(&self, path: &str) -> String {
        format!("http://{}/_fake{}", self.fake.addr(), path)
    }
}

/// The first error message of an Asana error body.
pub fn msg(body: &Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
