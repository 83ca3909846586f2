//! The Batch API (`POST /api/now/v1/batch`): many Table API calls in one round trip.
//!
//! [`Client::batch`] takes any number of [`BatchItem`]s, splits them into batches
//! by count and by encoded size (ServiceNow stops a batch after about 30 s and
//! expects each under about 4 MB), sends the batches with bounded concurrency, and
//! returns one result per item, in the order given. Nothing is dropped:
//!
//! - an item the server ran comes back as a [`BatchResponse`], or as an
//!   [`Error::Api`] when its status is not a success;
//! - an item the server did not reach (`unserviced_requests`) comes back as
//!   [`Error::BatchItemUnserviced`]: it was not applied and may be sent again;
//! - an item whose whole batch request failed comes back as [`Error::BatchFailed`],
//!   which says the item may or may not have been applied.
//!
//! ```no_run
//! # async fn run(client: servicenow_client::Client) -> servicenow_client::Result<()> {
//! use servicenow_client::table::JsonRecord;
//! use servicenow_client::query::Query;
//! let users = client.table_json("sys_user")?;
//! let items = vec![
//!     users.list_item("admins", Query::new().eq("user_name", "admin"))?,
//!     users.create_item("new", &serde_json::json!({"user_name": "agent.007"}))?,
//! ];
//! for result in client.batch(items).await? {
//!     let response = result?;
//!     println!("{} -> HTTP {}", response.id(), response.status());
//! }
//! # Ok(()) }
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use bpsn_core::Request;
use futures_util::StreamExt as _;
use http::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{ApiError, Error, InvalidInput, RequestSummary, Result, parse_error_envelope};
use crate::query::Query;
use crate::table::{ListOptions, Record, Table};

/// How many times unserviced batch items are sent again (they were not applied).
pub const BATCH_ROUNDS: usize = 3;

/// The page size of a batched lookup: one page must hold every match.
const LOOKUP_PAGE: u32 = 10_000;

/// The path of the Batch API.
pub const BATCH_PATH: &str = "/api/now/v1/batch";

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// How batches are split and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOptions {
    max_items: usize,
    max_bytes: usize,
    concurrency: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            max_items: 100,
            max_bytes: 3_500_000,
            concurrency: 4,
        }
    }
}

impl BatchOptions {
    /// Default options: 100 items and 3.5 MB per batch, 4 batches in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most items in one batch (1 or more).
    pub fn max_items(mut self, n: usize) -> Self {
        self.max_items = n;
        self
    }

    /// Sets the largest encoded batch request, in bytes.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// Sets how many batches may be in flight at once (1 or more).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// The most items in one batch.
    pub fn items_per_batch(&self) -> usize {
        self.max_items
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.max_items == 0 || self.concurrency == 0 || self.max_bytes < 1024 {
            return Err(InvalidInput::new(
                "batch options",
                format!(
                    "max_items and concurrency must be at least 1 and max_bytes at least 1024 (got {}, {}, {})",
                    self.max_items, self.concurrency, self.max_bytes
                ),
            )
            .into());
        }
        Ok(())
    }
}

/// One call inside a batch.
#[derive(Clone)]
pub struct BatchItem {
    id: String,
    method: Method,
    url: String,
    body: Option<Vec<u8>>,
    response_headers: bool,
}

impl fmt::Debug for BatchItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchItem")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

impl BatchItem {
    /// A call of `method` on `url`, a path under `/api/` with its query
    /// (for example `/api/now/table/sys_user?sysparm_limit=1`).
    pub fn new(id: impl Into<String>, method: Method, url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            method,
            url: url.into(),
            body: None,
            response_headers: false,
        }
    }

    /// Sets a JSON body.
    pub fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Result<Self> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            InvalidInput::new("batch item body", format!("cannot be serialised: {e}"))
        })?;
        self.body = Some(bytes);
        Ok(self)
    }

    /// Asks for the item's response headers (left out by default to keep answers small).
    pub fn with_response_headers(mut self) -> Self {
        self.response_headers = true;
        self
    }

    /// The item's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The relative URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the item only reads (a GET): a batch of such items changes nothing.
    fn is_read(&self) -> bool {
        self.method == Method::GET
    }

    fn summary(&self, origin: &bpsn_core::Origin) -> RequestSummary {
        RequestSummary::new(self.method.clone(), origin, self.url.clone())
    }

    fn wire(&self) -> WireRequest<'_> {
        WireRequest {
            id: &self.id,
            method: self.method.as_str(),
            url: &self.url,
            headers: vec![
                WireHeader {
                    name: "Content-Type".into(),
                    value: "application/json".into(),
                },
                WireHeader {
                    name: "Accept".into(),
                    value: "application/json".into(),
                },
            ],
            body: self.body.as_ref().map(|b| BASE64.encode(b)),
            exclude_response_headers: !self.response_headers,
        }
    }
}

/// The answer to one serviced batch item.
#[derive(Clone)]
pub struct BatchResponse {
    id: String,
    status: u16,
    status_text: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    execution_time: Option<u64>,
    request: RequestSummary,
}

impl fmt::Debug for BatchResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchResponse")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("request", &self.request)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl BatchResponse {
    /// The item's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The item's HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The item's status text.
    pub fn status_text(&self) -> &str {
        &self.status_text
    }

    /// The item's response headers (empty unless asked for).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// How long the server spent on the item, in milliseconds, when it said.
    pub fn execution_time_ms(&self) -> Option<u64> {
        self.execution_time
    }

    /// The decoded body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Decodes the body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::Decode(Box::new(crate::error::DecodeError {
                request: self.request.clone(),
                status: self.status,
                reason: e.to_string(),
                body_snippet: Some(bpsn_core::error::snippet(&self.body)),
            }))
        })
    }

    /// Decodes a Table API answer `{"result": {...}}` into one record.
    pub fn record<T: DeserializeOwned>(&self) -> Result<T> {
        #[derive(Deserialize)]
        struct Envelope<T> {
            result: T,
        }
        self.json::<Envelope<T>>().map(|e| e.result)
    }

    /// Decodes a Table API list answer `{"result": [...]}`.
    pub fn records<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.record::<Vec<T>>()
    }
}

#[derive(Serialize)]
struct WireBatch<'a> {
    batch_request_id: String,
    rest_requests: Vec<WireRequest<'a>>,
}

#[derive(Serialize)]
struct WireRequest<'a> {
    id: &'a str,
    method: &'a str,
    url: &'a str,
    headers: Vec<WireHeader>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    exclude_response_headers: bool,
}

#[derive(Serialize, Deserialize)]
struct WireHeader {
    name: String,
    value: String,
}

#[derive(Deserialize)]
struct WireAnswer {
    #[serde(default)]
    serviced_requests: Vec<WireServiced>,
    #[serde(default)]
    unserviced_requests: Vec<String>,
}

#[derive(Deserialize)]
struct WireServiced {
    id: String,
    #[serde(with = "bpsn_core::wire::string_number")]
    status_code: u16,
    #[serde(default)]
    status_text: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    headers: Vec<WireHeader>,
    #[serde(default, with = "bpsn_core::wire::string_number::option")]
    execution_time: Option<u64>,
    /// Why the instance could not service the item, when it says.
    #[serde(default)]
    error_message: Option<String>,
}

impl Client {
    /// Runs the items through the Batch API and returns one result per item, in
    /// the order given (see the [module docs](crate::batch) for what each error
    /// means). Item ids must be unique and not empty; an item too large for one
    /// batch is rejected before anything is sent, and so is a write on a
    /// [read-only](Client::read_only) client ([`Error::ReadOnly`] naming the item).
    pub async fn batch(&self, items: Vec<BatchItem>) -> Result<Vec<Result<BatchResponse>>> {
        if self.is_read_only() {
            // Refused as a whole, before anything is sent, rather than item by
            // item as "may or may not have been applied".
            if let Some(write) = items.iter().find(|i| !i.is_read()) {
                let mut request = write.summary(self.instance().origin());
                request.attempts = 0;
                return Err(Error::ReadOnly { request });
            }
        }
        let options = self.batch_options().clone();
        let chunks = split(&items, &options)?;
        let answers: Vec<(Vec<usize>, Result<WireAnswer>, String)> =
            futures_util::stream::iter(chunks.into_iter().map(|chunk| {
                let items = &items;
                async move {
                    let batch_id = format!("{:016x}", rand::random::<u64>());
                    let answer = self.send_batch(&batch_id, &chunk, items).await;
                    (chunk, answer, batch_id)
                }
            }))
            .buffered(options.concurrency)
            .collect()
            .await;

        let mut results: Vec<Option<Result<BatchResponse>>> =
            (0..items.len()).map(|_| None).collect();
        for (chunk, answer, batch_id) in answers {
            match answer {
                Ok(answer) => {
                    let by_id: HashMap<&str, usize> =
                        chunk.iter().map(|&i| (items[i].id.as_str(), i)).collect();
                    for serviced in answer.serviced_requests {
                        if let Some(&i) = by_id.get(serviced.id.as_str()) {
                            results[i] =
                                Some(item_result(&items[i], serviced, self.instance().origin()));
                        }
                    }
                    for id in answer.unserviced_requests {
                        if let Some(&i) = by_id.get(id.as_str()) {
                            results[i] = Some(Err(Error::BatchItemUnserviced {
                                batch_id: batch_id.clone(),
                                item_id: id,
                            }));
                        }
                    }
                    for &i in &chunk {
                        if results[i].is_none() {
                            results[i] = Some(Err(Error::Protocol {
                                request: items[i].summary(self.instance().origin()),
                                reason: format!(
                                    "batch `{batch_id}` answered neither serviced nor unserviced for item `{}`",
                                    items[i].id
                                ),
                            }));
                        }
                    }
                }
                Err(e) => {
                    let shared = Arc::new(e);
                    for &i in &chunk {
                        results[i] = Some(Err(Error::BatchFailed {
                            item_id: items[i].id.clone(),
                            source: shared.clone(),
                        }));
                    }
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every item belongs to exactly one chunk"))
            .collect())
    }

    async fn send_batch(
        &self,
        batch_id: &str,
        chunk: &[usize],
        items: &[BatchItem],
    ) -> Result<WireAnswer> {
        let wire = WireBatch {
            batch_request_id: batch_id.to_owned(),
            rest_requests: chunk.iter().map(|&i| items[i].wire()).collect(),
        };
        let writes = chunk.iter().filter(|&&i| !items[i].is_read()).count();
        let read_only = writes == 0;
        let mut request = Request::post(BATCH_PATH)
            .json(&wire)?
            .idempotent(read_only)
            .counting_writes(u32::try_from(writes).unwrap_or(u32::MAX))
            .api("batch");
        if read_only {
            request = request.changes_nothing();
        }
        let response = self.transport().send(request).await?;
        response.json()
    }
}

impl Client {
    /// Runs read-only items (GETs) through the Batch API and returns one response
    /// per item, in order. Unserviced items are sent again (up to
    /// [`BATCH_ROUNDS`] rounds); any other item error is returned.
    pub async fn batch_reads(&self, items: Vec<BatchItem>) -> Result<Vec<BatchResponse>> {
        if let Some(write) = items.iter().find(|i| !i.is_read()) {
            return Err(InvalidInput::new(
                "batch read",
                format!("item `{}` is a {}, not a GET", write.id, write.method),
            )
            .into());
        }
        let mut done: Vec<Option<BatchResponse>> = (0..items.len()).map(|_| None).collect();
        let mut pending: Vec<usize> = (0..items.len()).collect();
        for round in 0..BATCH_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let batch: Vec<BatchItem> = pending.iter().map(|&i| items[i].clone()).collect();
            let results = self.batch(batch).await?;
            let mut again = Vec::new();
            for (&i, result) in pending.iter().zip(results) {
                match result {
                    Ok(response) => done[i] = Some(response),
                    Err(Error::BatchItemUnserviced { .. }) if round + 1 < BATCH_ROUNDS => {
                        again.push(i)
                    }
                    Err(e) => return Err(e),
                }
            }
            pending = again;
        }
        Ok(done
            .into_iter()
            .map(|r| r.expect("every item was answered or returned an error"))
            .collect())
    }
}

impl<R: Record> Table<R> {
    /// A batch item that looks up every row matching `query` in one page (for
    /// natural-key lookups such as `user_nameIN` a hundred names; read its rows
    /// with [`lookup_rows`]).
    pub fn lookup_item(&self, id: impl Into<String>, query: Query) -> Result<BatchItem> {
        self.list_item(id, ListOptions::new(query).page_size(LOOKUP_PAGE))
    }

    /// Runs several lookups in as few round trips as the Batch API allows and
    /// returns every matching row (one page of up to 10 000 per query: for
    /// natural-key lookups, not scans). A query that fills its page is an
    /// [`Error::Protocol`] (split it) rather than a silent truncation.
    pub async fn list_batched(&self, queries: Vec<Query>) -> Result<Vec<R>> {
        let items: Vec<BatchItem> = queries
            .into_iter()
            .enumerate()
            .map(|(i, q)| self.lookup_item(format!("q{i}"), q))
            .collect::<Result<_>>()?;
        let mut rows = Vec::new();
        for response in self.client().batch_reads(items).await? {
            rows.extend(lookup_rows::<R>(&response)?);
        }
        Ok(rows)
    }
}

/// The rows of a lookup item's answer; an error when the page is full (the
/// lookup may have missed rows).
pub fn lookup_rows<R: serde::de::DeserializeOwned>(response: &BatchResponse) -> Result<Vec<R>> {
    let rows: Vec<R> = response.records()?;
    if rows.len() >= LOOKUP_PAGE as usize {
        return Err(Error::Protocol {
            request: response.request.clone(),
            reason: "a batched lookup filled its page; split the query".into(),
        });
    }
    Ok(rows)
}

/// Decodes a Batch API answer and maps each serviced item as [`Client::batch`]
/// does, for an item of `method` on `url`. Never panics on any input; used by the
/// fuzz targets (`fuzz/`), not part of the supported API.
#[doc(hidden)]
pub fn decode_answer_for_fuzzing(method: Method, url: &str, answer: &[u8]) -> usize {
    let item = BatchItem::new("fuzz", method, url);
    let origin = bpsn_core::Origin::parse("https://fuzz.service-now.com").expect("static origin");
    let Ok(answer) = serde_json::from_slice::<WireAnswer>(answer) else {
        return 0;
    };
    answer
        .serviced_requests
        .into_iter()
        .map(|s| item_result(&item, s, &origin))
        .filter(|r| {
            r.as_ref()
                .is_ok_and(|r| r.records::<crate::JsonRecord>().is_ok())
        })
        .count()
        + answer.unserviced_requests.len()
}

fn item_result(
    item: &BatchItem,
    serviced: WireServiced,
    origin: &bpsn_core::Origin,
) -> Result<BatchResponse> {
    let request = item.summary(origin);
    let body = BASE64.decode(serviced.body.as_bytes()).map_err(|e| {
        Error::Decode(Box::new(crate::error::DecodeError {
            request: request.clone(),
            status: serviced.status_code,
            reason: format!("the batch item body is not base64: {e}"),
            body_snippet: Some(bpsn_core::error::snippet(serviced.body.as_bytes())),
        }))
    })?;
    let error_message = serviced.error_message.filter(|m| !m.trim().is_empty());
    if !(200..300).contains(&serviced.status_code) {
        let parsed = parse_error_envelope(&body);
        let body_snippet = (parsed.message.is_none() && !body.is_empty())
            .then(|| bpsn_core::error::snippet(&body));
        // The item's own `error_message` says why the batch could not service it;
        // it goes first, the item body's envelope after.
        let (message, detail) = match error_message {
            Some(m) => (
                Some(m),
                [parsed.message, parsed.detail]
                    .into_iter()
                    .flatten()
                    .reduce(|a, b| format!("{a}: {b}")),
            ),
            None => (
                parsed
                    .message
                    .or(Some(serviced.status_text).filter(|s| !s.is_empty())),
                parsed.detail,
            ),
        };
        return Err(Error::Api(Box::new(ApiError {
            request,
            status: serviced.status_code,
            message,
            detail,
            body_snippet,
        })));
    }
    if let Some(message) = error_message {
        return Err(Error::Protocol {
            request,
            reason: format!(
                "the batch serviced the item with HTTP {} but reported an error: {message}",
                serviced.status_code
            ),
        });
    }
    Ok(BatchResponse {
        id: serviced.id,
        status: serviced.status_code,
        status_text: serviced.status_text,
        headers: serviced
            .headers
            .into_iter()
            .map(|h| (h.name, h.value))
            .collect(),
        body,
        execution_time: serviced.execution_time,
        request,
    })
}

/// Splits item indexes into batches by count and encoded size, checking ids.
fn split(items: &[BatchItem], options: &BatchOptions) -> Result<Vec<Vec<usize>>> {
    // The envelope around the items: `{"batch_request_id":"<16 hex>","rest_requests":[]}`.
    const ENVELOPE: usize = 64;
    let mut seen = HashSet::new();
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut current_bytes = ENVELOPE;
    for (i, item) in items.iter().enumerate() {
        if item.id.is_empty() {
            return Err(
                InvalidInput::new("batch item id", format!("item {i} has an empty id")).into(),
            );
        }
        if !seen.insert(item.id.as_str()) {
            return Err(
                InvalidInput::new("batch item id", format!("`{}` is used twice", item.id)).into(),
            );
        }
        if !item.url.starts_with("/api/") {
            return Err(InvalidInput::new(
                "batch item url",
                format!("`{}` must be a path under /api/", item.url),
            )
            .into());
        }
        let size = serde_json::to_vec(&item.wire())
            .map(|v| v.len() + 1)
            .unwrap_or(usize::MAX);
        if size + ENVELOPE > options.max_bytes {
            return Err(InvalidInput::new(
                "batch item",
                format!(
                    "`{}` encodes to {size} bytes, more than one batch may carry ({})",
                    item.id, options.max_bytes
                ),
            )
            .into());
        }
        if !current.is_empty()
            && (current.len() == options.max_items || current_bytes + size > options.max_bytes)
        {
            chunks.push(std::mem::take(&mut current));
            current_bytes = ENVELOPE;
        }
        current.push(i);
        current_bytes += size;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, body_len: usize) -> BatchItem {
        BatchItem::new(id, Method::POST, "/api/now/table/x")
            .json(&serde_json::json!({"v": "x".repeat(body_len)}))
            .unwrap()
    }

    #[test]
    fn splits_by_count() {
        let items: Vec<_> = (0..250).map(|i| item(&i.to_string(), 1)).collect();
        let chunks = split(&items, &BatchOptions::default()).unwrap();
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![100, 100, 50]
        );
        assert_eq!(chunks.concat(), (0..250).collect::<Vec<_>>());
    }

    #[test]
    fn splits_by_size() {
        let options = BatchOptions::default().max_bytes(10_000);
        let items: Vec<_> = (0..10).map(|i| item(&i.to_string(), 3_000)).collect();
        let chunks = split(&items, &options).unwrap();
        assert!(chunks.len() >= 4, "{chunks:?}");
        for c in &chunks {
            let size: usize = c
                .iter()
                .map(|&i| serde_json::to_vec(&items[i].wire()).unwrap().len() + 1)
                .sum();
            assert!(size + 64 <= 10_000, "{size}");
        }
    }

    #[test]
    fn rejects_bad_items_before_sending() {
        let options = BatchOptions::default().max_bytes(2_000);
        assert!(split(&[item("a", 5_000)], &options).is_err());
        assert!(split(&[item("a", 1), item("a", 1)], &options).is_err());
        assert!(split(&[item("", 1)], &options).is_err());
        assert!(
            split(
                &[BatchItem::new("x", Method::GET, "https://evil/")],
                &options
            )
            .is_err()
        );
        assert!(BatchOptions::default().concurrency(0).check().is_err());
    }
}
