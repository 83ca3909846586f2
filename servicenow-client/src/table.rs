//! The Table API (`/api/now/table/{table}`), generic over any table.
//!
//! Typed rows implement [`Record`] (a table name plus serde); any other table is
//! read as [`JsonRecord`] through [`Client::table_json`].
//!
//! Listing is a [`Stream`] that pages through the results. Pages are ordered by
//! `sys_id` unless the query orders them, so records neither repeat nor vanish
//! between pages. The stream follows `Link: rel="next"` and `X-Total-Count`, never
//! stops on a short page (ServiceNow applies `sysparm_limit` before ACLs, so a page
//! can be short while more remain), and fails with [`Error::Protocol`] on a server
//! whose paging does not advance, repeats a record, sends more records than its
//! `X-Total-Count`, needs more than `ceil(total / page size) + 1` pages, keeps
//! answering empty pages, or goes past the client's [`PagingLimits`]. The SDK holds
//! one page's bytes at a time: the page is checked and split into records
//! without building anything, and each record is decoded straight into the
//! caller's type (no JSON tree in between) only when the caller takes it.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;

use bpsn_core::{Request, Response};
use futures_util::Stream;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::batch::BatchItem;
use crate::client::Client;
use crate::error::{Error, InvalidInput, Result};
use crate::query::{EncodedQuery, Query, check_field};
use crate::wire::SysId;

/// A row of a ServiceNow table, read and written through serde.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use servicenow_client::{Record, wire::{self, SysId}};
///
/// #[derive(Debug, Serialize, Deserialize)]
/// struct Group {
///     #[serde(skip_serializing)]
///     sys_id: SysId,
///     name: String,
///     #[serde(with = "wire::string_bool")]
///     active: bool,
/// }
///
/// impl Record for Group {
///     const TABLE: &'static str = "sys_user_group";
/// }
/// ```
pub trait Record: DeserializeOwned + Send + 'static {
    /// The table name.
    const TABLE: &'static str;
}

/// A row of any table, as a JSON map.
pub type JsonRecord = serde_json::Map<String, serde_json::Value>;

/// Where listing stops by itself, whatever the server says (set with
/// [`ClientBuilder::paging_limits`](crate::ClientBuilder::paging_limits)).
///
/// Besides these, a list never asks for more than `ceil(X-Total-Count / page
/// size) + 1` pages when the server gives a total, and fails on a page that
/// repeats a record already seen or on more records than the total announced.
/// A page that comes without paging headers (neither `X-Total-Count` nor
/// `Link`, which ServiceNow always sends) is the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PagingLimits {
    /// The most pages one list reads (default 10 000: ten million records at
    /// the largest page size).
    pub max_pages: u64,
    /// The most empty pages in a row that are followed by a next page (default
    /// 5). ServiceNow applies `sysparm_limit` before ACLs, so a page can be empty
    /// while more remain; a server that keeps answering empty pages is stopped.
    pub max_empty_pages_in_a_row: u32,
    /// The most body bytes one list reads, all its pages together (default
    /// 64 MiB): a server that keeps sending (junk pages under an absurd
    /// total) ends in an error, not in exhausted memory. A stream holds one
    /// page at a time; raise this to stream a larger table.
    pub max_list_bytes: u64,
    /// The largest record a list accepts, as JSON text (default 4 MiB).
    pub max_record_bytes: u64,
}

impl PagingLimits {
    /// Sets the most pages one list reads.
    pub fn max_pages(mut self, pages: u64) -> Self {
        self.max_pages = pages;
        self
    }

    /// Sets the most empty pages in a row followed by a next page.
    pub fn max_empty_pages_in_a_row(mut self, pages: u32) -> Self {
        self.max_empty_pages_in_a_row = pages;
        self
    }

    /// Sets the most body bytes one list reads.
    pub fn max_list_bytes(mut self, bytes: u64) -> Self {
        self.max_list_bytes = bytes;
        self
    }

    /// Sets the largest record a list accepts.
    pub fn max_record_bytes(mut self, bytes: u64) -> Self {
        self.max_record_bytes = bytes;
        self
    }
}

impl Default for PagingLimits {
    fn default() -> Self {
        Self {
            max_pages: 10_000,
            max_empty_pages_in_a_row: 5,
            max_list_bytes: 64 * 1024 * 1024,
            max_record_bytes: 4 * 1024 * 1024,
        }
    }
}

/// How reference and choice fields are rendered (`sysparm_display_value`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisplayValue {
    /// Stored values (the default): references are sys_ids.
    #[default]
    Stored,
    /// Display values only.
    Display,
    /// Both: references carry `display_value` and `value`.
    All,
}

impl DisplayValue {
    fn as_param(self) -> Option<&'static str> {
        match self {
            DisplayValue::Stored => None,
            DisplayValue::Display => Some("true"),
            DisplayValue::All => Some("all"),
        }
    }
}

/// What to list and how.
///
/// ```
/// use servicenow_client::query::Query;
/// use servicenow_client::table::{DisplayValue, ListOptions};
/// let options = ListOptions::new(Query::new().eq("active", "true"))
///     .fields(["sys_id", "user_name"])
///     .page_size(500)
///     .display_value(DisplayValue::All)
///     .limit(2000);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    query: Query,
    fields: Vec<String>,
    page_size: Option<u32>,
    display_value: DisplayValue,
    exclude_reference_link: bool,
    limit: Option<usize>,
}

impl ListOptions {
    /// Lists the records matching `query`.
    pub fn new(query: Query) -> Self {
        Self {
            query,
            ..Self::default()
        }
    }

    /// Returns only these fields (`sysparm_fields`).
    pub fn fields<I, F>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = F>,
        F: Into<String>,
    {
        self.fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Asks for this many records per page (1 to 10 000), instead of the client's.
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size);
        self
    }

    /// Sets `sysparm_display_value`.
    pub fn display_value(mut self, display_value: DisplayValue) -> Self {
        self.display_value = display_value;
        self
    }

    /// Sets `sysparm_exclude_reference_link=true`: references arrive as plain values.
    pub fn exclude_reference_link(mut self, exclude: bool) -> Self {
        self.exclude_reference_link = exclude;
        self
    }

    /// Stops after this many records.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
}

impl From<Query> for ListOptions {
    fn from(query: Query) -> Self {
        Self::new(query)
    }
}

/// The query parameters of one list request, checked before anything is sent.
#[derive(Debug, Clone)]
pub(crate) struct ListParams {
    query: EncodedQuery,
    fields: Option<String>,
    page_size: u32,
    display_value: DisplayValue,
    exclude_reference_link: bool,
    limit: Option<usize>,
}

impl ListParams {
    pub(crate) fn check(options: ListOptions, default_page_size: u32) -> Result<Self> {
        let mut query = options.query;
        if !query.is_ordered() {
            query = query.order_by("sys_id");
        }
        let query = query.build()?;
        for f in &options.fields {
            check_field(f)?;
        }
        let page_size = options.page_size.unwrap_or(default_page_size);
        if !(1..=10_000).contains(&page_size) {
            return Err(InvalidInput::new(
                "page size",
                format!("{page_size} is outside 1..=10000"),
            )
            .into());
        }
        Ok(Self {
            query,
            fields: (!options.fields.is_empty()).then(|| options.fields.join(",")),
            page_size,
            display_value: options.display_value,
            exclude_reference_link: options.exclude_reference_link,
            limit: options.limit,
        })
    }

    /// The query parameters of a page asking for `limit` records, at `offset`
    /// when given: the query, the limit, and what shapes each record.
    fn params(&self, offset: Option<u64>, limit: u32) -> Vec<(&'static str, String)> {
        let mut params = vec![
            ("sysparm_query", self.query.as_str().to_owned()),
            ("sysparm_limit", limit.to_string()),
        ];
        if let Some(offset) = offset {
            params.push(("sysparm_offset", offset.to_string()));
        }
        if let Some(fields) = &self.fields {
            params.push(("sysparm_fields", fields.clone()));
        }
        if let Some(dv) = self.display_value.as_param() {
            params.push(("sysparm_display_value", dv.to_owned()));
        }
        if self.exclude_reference_link {
            params.push(("sysparm_exclude_reference_link", "true".to_owned()));
        }
        params
    }

    /// Adds the parameters of the page at `offset` asking for `limit` records.
    fn apply(&self, request: Request, offset: u64, limit: u32) -> Request {
        self.params(Some(offset), limit)
            .into_iter()
            .fold(request, |request, (key, value)| request.query(key, value))
    }

    /// The relative URL of the first page, for a batch item.
    pub(crate) fn first_page_url(&self, table_path: &str) -> String {
        let mut url = url::Url::parse("http://batch.invalid").expect("static URL");
        url.set_path(table_path);
        url.query_pairs_mut()
            .extend_pairs(self.params(None, self.page_limit(0)));
        format!("{}?{}", url.path(), url.query().unwrap_or_default())
    }

    fn page_limit(&self, yielded: usize) -> u32 {
        match self.limit {
            Some(limit) => {
                let remaining = limit.saturating_sub(yielded);
                u32::try_from(remaining)
                    .unwrap_or(u32::MAX)
                    .min(self.page_size)
            }
            None => self.page_size,
        }
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    result: T,
}

/// Decodes `{"result": ...}`.
pub(crate) fn decode_result<T: DeserializeOwned>(response: &Response) -> Result<T> {
    response.json::<Envelope<T>>().map(|e| e.result)
}

/// The Table API for one table; rows are read as `R`.
///
/// Obtained from [`Client::table`] (typed) or [`Client::table_json`] (untyped).
pub struct Table<R> {
    client: Client,
    name: Cow<'static, str>,
    _rows: PhantomData<fn() -> R>,
}

impl<R> Clone for Table<R> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            name: self.name.clone(),
            _rows: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Table<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table").field("name", &self.name).finish()
    }
}

impl<R> Table<R> {
    pub(crate) fn new(client: Client, name: Cow<'static, str>) -> Self {
        Self {
            client,
            name,
            _rows: PhantomData,
        }
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `/api/now/table/{table}`
    pub fn path(&self) -> String {
        format!("/api/now/table/{}", self.name)
    }

    fn record_path(&self, sys_id: &SysId) -> String {
        format!("/api/now/table/{}/{}", self.name, sys_id)
    }

    fn request(&self, request: Request) -> Request {
        request.api(self.name.clone())
    }

    /// Deletes the record (HTTP 204).
    pub async fn delete(&self, sys_id: &SysId) -> Result<()> {
        self.client
            .transport()
            .send(self.request(Request::delete(self.record_path(sys_id))))
            .await?;
        Ok(())
    }

    /// A batch item that creates a record (see [`Client::batch`]).
    pub fn create_item<B: Serialize + ?Sized>(
        &self,
        id: impl Into<String>,
        body: &B,
    ) -> Result<BatchItem> {
        BatchItem::new(id, http::Method::POST, self.path()).json(body)
    }

    /// A batch item that updates fields of a record.
    pub fn update_item<B: Serialize + ?Sized>(
        &self,
        id: impl Into<String>,
        sys_id: &SysId,
        patch: &B,
    ) -> Result<BatchItem> {
        BatchItem::new(id, http::Method::PATCH, self.record_path(sys_id)).json(patch)
    }

    /// A batch item that deletes a record.
    pub fn delete_item(&self, id: impl Into<String>, sys_id: &SysId) -> BatchItem {
        BatchItem::new(id, http::Method::DELETE, self.record_path(sys_id))
    }

    /// A batch item that reads the first page of a list (up to the page size or
    /// limit). Read its rows with [`BatchResponse::records`](crate::batch::BatchResponse::records).
    pub fn list_item(
        &self,
        id: impl Into<String>,
        options: impl Into<ListOptions>,
    ) -> Result<BatchItem> {
        let params = ListParams::check(options.into(), self.client.page_size())?;
        Ok(BatchItem::new(
            id,
            http::Method::GET,
            params.first_page_url(&self.path()),
        ))
    }
}

impl<R: DeserializeOwned + Send + 'static> Table<R> {
    /// Reads the record with this sys_id. A missing record (or one an ACL hides) is
    /// an error for which [`Error::is_not_found`] is true.
    pub async fn get(&self, sys_id: &SysId) -> Result<R> {
        let response = self
            .client
            .transport()
            .send(self.request(Request::get(self.record_path(sys_id))))
            .await?;
        decode_result(&response)
    }

    /// Reads the record with this sys_id, or `None` when there is none.
    pub async fn find(&self, sys_id: &SysId) -> Result<Option<R>> {
        match self.get(sys_id).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Streams every record matching the options, page by page.
    ///
    /// Bad input (a field name, a query value) is reported as the stream's first
    /// item, before any request is sent.
    pub fn list(
        &self,
        options: impl Into<ListOptions>,
    ) -> impl Stream<Item = Result<R>> + Send + 'static {
        let start =
            ListParams::check(options.into(), self.client.page_size()).map(|params| Pager {
                table: self.clone(),
                params,
                next: Some(NextPage::Offset(0)),
                page: None,
                records: VecDeque::new(),
                yielded: 0,
                last_offset: None,
                pages: 0,
                empty_in_a_row: 0,
                received: 0,
                seen: std::collections::HashSet::new(),
                bytes: 0,
            });
        // The state is the pager, or the input error to report as the only item.
        futures_util::stream::try_unfold(start, |state| async move {
            let mut pager = state?;
            loop {
                if pager.params.limit.is_some_and(|l| pager.yielded >= l) {
                    return Ok(None);
                }
                if let Some(record) = pager.next_record() {
                    let record = record?;
                    pager.yielded += 1;
                    return Ok(Some((record, Ok(pager))));
                }
                if pager.next.is_none() {
                    return Ok(None);
                }
                pager.fetch().await?;
            }
        })
    }

    /// The first record matching `query` (in `sys_id` order unless the query
    /// orders), or `None`.
    pub async fn first(&self, query: Query) -> Result<Option<R>> {
        use futures_util::TryStreamExt as _;
        let stream = self.list(ListOptions::new(query).limit(1).page_size(1));
        futures_util::pin_mut!(stream);
        stream.try_next().await
    }

    /// The first page only: at most `options`' page size records (its limit,
    /// when smaller), in one request, however many match. For "the latest N"
    /// reads, where the rest is not wanted.
    pub async fn first_page(&self, options: impl Into<ListOptions>) -> Result<Vec<R>> {
        let params = ListParams::check(options.into(), self.client.page_size())?;
        let limit = params.page_limit(0);
        let request = params.apply(self.request(Request::get(self.path())), 0, limit);
        let response = self.client.transport().send(request).await?;
        let mut rows: Vec<R> = decode_result(&response)?;
        rows.truncate(limit as usize);
        Ok(rows)
    }

    /// The one record matching `query`, or `None`; [`Error::TooManyMatches`] when
    /// more than one matches (for lookups by a natural key that must be unique).
    pub async fn one(&self, query: Query) -> Result<Option<R>> {
        let params = ListParams::check(
            ListOptions::new(query).page_size(2),
            self.client.page_size(),
        )?;
        let request = params.apply(self.request(Request::get(self.path())), 0, 2);
        let response = self.client.transport().send(request).await?;
        let mut rows: Vec<R> = decode_result(&response)?;
        if rows.len() > 1 {
            return Err(Error::TooManyMatches {
                request: response.request().clone(),
                found: rows.len(),
            });
        }
        Ok(rows.pop())
    }

    /// Creates a record (HTTP 201) and returns it as the instance stored it.
    pub async fn create<B: Serialize + ?Sized>(&self, body: &B) -> Result<R> {
        let request = self.request(Request::post(self.path()).json(body)?);
        let response = self.client.transport().send(request).await?;
        decode_result(&response)
    }

    /// Creates a record with a sys_id chosen by the caller (the Table API accepts
    /// one on insert). Record the id before calling this, and a create whose
    /// answer is lost (a timeout) can still be recognised afterwards.
    pub async fn create_with_id<B: Serialize + ?Sized>(
        &self,
        sys_id: &SysId,
        body: &B,
    ) -> Result<R> {
        let mut value = serde_json::to_value(body)
            .map_err(|e| InvalidInput::new("request body", format!("cannot be serialised: {e}")))?;
        let Some(map) = value.as_object_mut() else {
            return Err(InvalidInput::new("request body", "a record must be a JSON object").into());
        };
        map.insert(
            "sys_id".into(),
            serde_json::Value::String(sys_id.as_str().to_owned()),
        );
        self.create(&value).await
    }

    /// Sets the given fields of a record (PATCH) and returns the updated record.
    pub async fn update<B: Serialize + ?Sized>(&self, sys_id: &SysId, patch: &B) -> Result<R> {
        let request = self.request(Request::patch(self.record_path(sys_id)).json(patch)?);
        let response = self.client.transport().send(request).await?;
        decode_result(&response)
    }

    /// Replaces a record (PUT) and returns it.
    pub async fn replace<B: Serialize + ?Sized>(&self, sys_id: &SysId, body: &B) -> Result<R> {
        let request = self.request(Request::put(self.record_path(sys_id)).json(body)?);
        let response = self.client.transport().send(request).await?;
        decode_result(&response)
    }
}

enum NextPage {
    Offset(u64),
    /// The path and query of a `Link: rel="next"` target.
    Link {
        path: String,
        offset: u64,
    },
}

struct Pager<R> {
    table: Table<R>,
    params: ListParams,
    next: Option<NextPage>,
    /// The page being read: its answer (the body, kept once) ...
    page: Option<Response>,
    /// ... and where each record not yet yielded lies in the body: a record is
    /// decoded into `R` only when the caller asks for it, so the SDK holds one
    /// page's bytes and one record at a time.
    records: VecDeque<std::ops::Range<usize>>,
    yielded: usize,
    last_offset: Option<u64>,
    /// Pages read so far.
    pages: u64,
    /// Empty pages in a row so far.
    empty_in_a_row: u32,
    /// Records received so far.
    received: u64,
    /// A fingerprint of the sys_id of every record seen.
    seen: std::collections::HashSet<u64>,
    /// Body bytes of every page read so far.
    bytes: u64,
}

/// Splits a page's `{"result": [...]}` into where each record lies in the body,
/// with its fingerprint — validating the JSON, but building nothing from it.
fn split_page(response: &Response) -> Result<Vec<(Option<u64>, std::ops::Range<usize>)>> {
    #[derive(Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        result: Vec<&'a serde_json::value::RawValue>,
    }
    let body = response.body();
    let page: Page<'_> =
        serde_json::from_slice(body).map_err(|e| response.decode_error(e.to_string()))?;
    let start = body.as_ptr() as usize;
    Ok(page
        .result
        .into_iter()
        .map(|raw| {
            let text = raw.get();
            // Borrowed from `body`, so its place in it is known.
            let at = text.as_ptr() as usize - start;
            (fingerprint(text), at..at + text.len())
        })
        .collect())
}

/// A record's identity: a hash of its `sys_id` (as a string, or the `value` of a
/// display-value object), or `None` when the fields asked for leave it out
/// (records without an id cannot be told apart, so they are not checked).
fn fingerprint(raw: &str) -> Option<u64> {
    use std::hash::{Hash as _, Hasher as _};
    let id = sys_id_in(raw)?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    Some(hasher.finish())
}

/// The top-level `sys_id` of a record's JSON text, found without parsing it.
fn sys_id_in(raw: &str) -> Option<&str> {
    let at = raw.find("\"sys_id\":")? + "\"sys_id\":".len();
    let rest = raw[at..].trim_start();
    let rest = match rest.strip_prefix('{') {
        // `{"display_value": "...", "value": "..."}`
        Some(object) => {
            let v = object.find("\"value\":")? + "\"value\":".len();
            object[v..].trim_start()
        }
        None => rest,
    };
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(&rest[..end])
}

impl<R: DeserializeOwned + Send + 'static> Pager<R> {
    async fn fetch(&mut self) -> Result<()> {
        let limit = self.params.page_limit(self.yielded);
        let (request, offset) = match self.next.take() {
            Some(NextPage::Offset(offset)) => (
                self.params.apply(
                    self.table.request(Request::get(self.table.path())),
                    offset,
                    limit,
                ),
                offset,
            ),
            Some(NextPage::Link { path, offset }) => {
                (self.table.request(Request::get(path)), offset)
            }
            None => return Ok(()),
        };
        let limits = self.table.client.paging_limits();
        if self.pages >= limits.max_pages {
            return Err(Error::Protocol {
                request: bpsn_core::RequestSummary::new(
                    http::Method::GET,
                    self.table.client.instance().origin(),
                    self.table.path(),
                ),
                reason: format!(
                    "stopped after {} pages (the client's limit, PagingLimits::max_pages): the server kept announcing more",
                    self.pages
                ),
            });
        }
        let response = self.table.client.transport().send(request).await?;
        self.pages += 1;
        self.bytes += response.body().len() as u64;
        if self.bytes > limits.max_list_bytes {
            return Err(response.protocol_error(format!(
                "the list's pages came to {} bytes after {} pages, more than the {} a list may read (PagingLimits::max_list_bytes): stopping",
                self.bytes, self.pages, limits.max_list_bytes
            )));
        }
        let rows = split_page(&response)?;
        if let Some((_, range)) = rows
            .iter()
            .find(|(_, r)| r.len() as u64 > limits.max_record_bytes)
        {
            return Err(response.protocol_error(format!(
                "page {} holds a record of {} bytes, more than the {} a record may be (PagingLimits::max_record_bytes): stopping",
                self.pages,
                range.len(),
                limits.max_record_bytes
            )));
        }
        let received = rows.len();
        self.received += received as u64;
        self.records.clear();
        for (fingerprint, range) in rows {
            if fingerprint.is_some_and(|f| !self.seen.insert(f)) {
                return Err(response.protocol_error(format!(
                    "page {} (offset {offset}) repeats a record an earlier page had: the server's paging is not stable; stopping rather than reading records twice",
                    self.pages
                )));
            }
            self.records.push_back(range);
        }
        self.last_offset = Some(offset);

        let total = response
            .header("x-total-count")
            .and_then(|t| t.parse::<u64>().ok());
        if let Some(total) = total {
            if self.received > total {
                return Err(response.protocol_error(format!(
                    "{} records received, more than the {total} X-Total-Count announces: the total contradicts the pages",
                    self.received
                )));
            }
            let most = total.div_ceil(u64::from(self.params.page_size.max(1))) + 1;
            if self.pages > most {
                return Err(response.protocol_error(format!(
                    "{} pages read for an announced total of {total} at {} a page (at most {most} are needed): the total contradicts the pages",
                    self.pages, self.params.page_size
                )));
            }
        }
        self.empty_in_a_row = if received == 0 {
            self.empty_in_a_row + 1
        } else {
            0
        };
        let link = response.header("link").map(parse_link_header);
        self.next = match link {
            Some(links) => match links.into_iter().find(|l| l.rel == "next") {
                Some(next) => {
                    let (path, next_offset) = self.check_link(&response, &next.url)?;
                    if next_offset <= offset {
                        return Err(response.protocol_error(format!(
                            "the next page link does not advance (offset {offset} then {next_offset}); stopping to avoid a loop"
                        )));
                    }
                    // A next link past the total with nothing on this page means the
                    // server keeps pointing at pages that cannot exist.
                    if received == 0 && total.is_some_and(|t| next_offset >= t) {
                        None
                    } else if self.empty_in_a_row > limits.max_empty_pages_in_a_row {
                        return Err(response.protocol_error(format!(
                            "{} empty pages in a row, each with a next link (X-Total-Count {}): stopping (ACLs can empty a page, but not this many; raise PagingLimits::max_empty_pages_in_a_row if they do)",
                            self.empty_in_a_row,
                            total.map_or("absent".to_owned(), |t| t.to_string())
                        )));
                    } else {
                        Some(NextPage::Link {
                            path,
                            offset: next_offset,
                        })
                    }
                }
                None => None,
            },
            None => {
                let next_offset = offset + u64::from(limit);
                match total {
                    Some(_) if self.empty_in_a_row > limits.max_empty_pages_in_a_row => {
                        return Err(response.protocol_error(format!(
                            "{} empty pages in a row while X-Total-Count says more remain: stopping (raise PagingLimits::max_empty_pages_in_a_row if ACLs hide that many)",
                            self.empty_in_a_row
                        )));
                    }
                    Some(t) if next_offset < t => Some(NextPage::Offset(next_offset)),
                    Some(_) => None,
                    // No paging headers at all: ServiceNow sends X-Total-Count
                    // (and Link) with every list, so this page is the last.
                    None => None,
                }
            }
        };
        tracing::debug!(table = %self.table.name, offset, received, ?total, more = self.next.is_some(), "page");
        self.page = Some(response);
        Ok(())
    }

    /// Decodes the next record of the page into `R`, when there is one.
    fn next_record(&mut self) -> Option<Result<R>> {
        let range = self.records.pop_front()?;
        let page = self.page.as_ref()?;
        let record = serde_json::from_slice(&page.body()[range])
            .map_err(|e| page.decode_error(e.to_string()));
        if self.records.is_empty() {
            self.page = None; // the page's bytes go as soon as its last record does
        }
        Some(record)
    }

    /// Checks a next-page link: same table path, on this instance's API, with an
    /// offset. Only the path and query are kept, so credentials never follow a
    /// link to another host.
    fn check_link(&self, response: &Response, link: &str) -> Result<(String, u64)> {
        let base = url::Url::parse("http://base.invalid").expect("static URL");
        let url = base.join(link).map_err(|e| {
            response.protocol_error(format!("the next page link {link:?} is not a URL: {e}"))
        })?;
        if !url.path().starts_with("/api/now/")
            || !url.path().ends_with(&format!("/{}", self.table.name))
        {
            return Err(response.protocol_error(format!(
                "the next page link {link:?} points away from table {}",
                self.table.name
            )));
        }
        let offset = url
            .query_pairs()
            .find(|(k, _)| k == "sysparm_offset")
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .ok_or_else(|| {
                response
                    .protocol_error(format!("the next page link {link:?} has no sysparm_offset"))
            })?;
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        Ok((path, offset))
    }
}

/// One entry of a `Link` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) url: String,
    pub(crate) rel: String,
}

/// Parses `<url>;rel="next",<url>;rel="last"`.
pub(crate) fn parse_link_header(header: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut rest = header;
    while let Some(start) = rest.find('<') {
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        let url = rest[start + 1..start + end].to_owned();
        rest = &rest[start + end + 1..];
        let params_end = rest.find('<').unwrap_or(rest.len());
        let params = &rest[..params_end];
        let rel = params
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("rel="))
            .map(|r| {
                r.trim_matches(|c| c == '"' || c == ',' || c == ' ')
                    .to_owned()
            })
            .next()
            .unwrap_or_default();
        links.push(Link { url, rel });
        rest = &rest[params_end..];
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_servicenow_link_headers() {
        let header = r#"<https://dev.service-now.com/api/now/table/sys_user?sysparm_limit=2&sysparm_offset=0>;rel="first",<https://dev.service-now.com/api/now/table/sys_user?sysparm_limit=2&sysparm_offset=2>;rel="next",<https://dev.service-now.com/api/now/table/sys_user?sysparm_limit=2&sysparm_offset=4>;rel="last""#;
        let links = parse_link_header(header);
        assert_eq!(links.len(), 3);
        assert_eq!(links[1].rel, "next");
        assert!(links[1].url.ends_with("sysparm_offset=2"));
        assert_eq!(parse_link_header(""), vec![]);
        assert_eq!(parse_link_header("<broken"), vec![]);
    }
}
