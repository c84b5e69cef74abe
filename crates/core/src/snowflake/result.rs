//! A finished statement's answer: its columns (`rowtype`) and its rows as Arrow record batches, the first chunk
//! inline and the others downloaded from their URLs, a few at a time ahead of the reader and handed over in order
//! (a keyset read's resume position is its last row). A chunk is an Arrow IPC stream, gzipped or not; the headers
//! its download needs are the reply's `chunkHeaders`, or, without them, the SSE-C headers made from `qrmk`.

use super::errors;
use super::http::Http;
use super::pace::Paced;
use crate::error::{Error, Result};
use arrow::record_batch::RecordBatch;
use base64::Engine;
use futures_util::stream::{self, BoxStream, StreamExt};
use hyper::Method;
use serde_json::Value;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

/// A chunk's download may take this long (a chunk is at most a few tens of MB).
const CHUNK_LIMIT: Duration = Duration::from_secs(300);

/// One result column as the reply describes it.
#[derive(Debug, Clone)]
pub struct RowType {
    pub name: String,
    /// Snowflake's type family, lower case: fixed, real, text, binary, boolean, date, time, timestamp_ntz, ...
    pub kind: String,
    pub scale: i64,
    /// NUMBER's digits; None for other types (and when the reply leaves it out).
    pub precision: Option<i64>,
    pub nullable: bool,
}

pub struct Answer {
    pub columns: Vec<RowType>,
    /// The inline rows, as Arrow.
    pub inline: Vec<RecordBatch>,
    /// The inline rows as the service's JSON text (statements whose result is not Arrow: SHOW, DML).
    pub json_rows: Option<Vec<Vec<Option<String>>>>,
    pub chunks: Vec<String>,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn from_reply(reply: Value, what: &str) -> Result<Answer> {
        let data = &reply["data"];
        let columns = data["rowtype"]
            .as_array()
            .map(|cols| {
                cols.iter()
                    .map(|c| RowType {
                        name: c["name"].as_str().unwrap_or_default().to_string(),
                        kind: c["type"].as_str().unwrap_or_default().to_ascii_lowercase(),
                        scale: c["scale"].as_i64().unwrap_or(0),
                        precision: c["precision"].as_i64(),
                        nullable: c["nullable"].as_bool().unwrap_or(true),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let json_rows = data["rowset"].as_array().map(|rows| {
            rows.iter()
                .map(|r| {
                    r.as_array()
                        .map(|cells| {
                            cells
                                .iter()
                                .map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        });
        let inline = match data["rowsetBase64"].as_str() {
            Some(b64) if !b64.is_empty() => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| errors::malformed(what, &format!("rowsetBase64: {e}")))?;
                ipc(&bytes, what)?
            }
            _ => Vec::new(),
        };
        let chunks = data["chunks"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c["url"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Answer {
            columns,
            inline,
            json_rows,
            chunks,
            headers: chunk_headers(data),
        })
    }

    /// Every record batch, the inline ones first, then each chunk's as it is downloaded (up to `ahead` at once,
    /// each download started in its `paced` slot).
    pub fn batches(
        self,
        http: Arc<Http>,
        paced: Arc<Paced>,
        ahead: usize,
        what: String,
    ) -> BoxStream<'static, Result<RecordBatch>> {
        let headers = Arc::new(self.headers);
        let downloads = stream::iter(self.chunks)
            .map(move |url| {
                let (http, headers, what) = (http.clone(), headers.clone(), what.clone());
                let paced = paced.clone();
                async move {
                    paced.fetch().await;
                    download(&http, &url, &headers, &what).await
                }
            })
            .buffered(ahead.max(1))
            .flat_map(|found| match found {
                Ok(batches) => stream::iter(batches.into_iter().map(Ok).collect::<Vec<_>>()),
                Err(e) => stream::iter(vec![Err(e)]),
            });
        stream::iter(self.inline.into_iter().map(Ok))
            .chain(downloads)
            .boxed()
    }
}

/// `chunkHeaders` as given; else the SSE-C key `qrmk` as the two headers S3 needs to decrypt the chunk.
fn chunk_headers(data: &Value) -> Vec<(String, String)> {
    if let Some(given) = data["chunkHeaders"].as_object() {
        return given
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect();
    }
    match data["qrmk"].as_str() {
        Some(key) => vec![
            (
                "x-amz-server-side-encryption-customer-algorithm".into(),
                "AES256".into(),
            ),
            (
                "x-amz-server-side-encryption-customer-key".into(),
                key.into(),
            ),
        ],
        None => Vec::new(),
    }
}

async fn download(
    http: &Http,
    url: &str,
    headers: &[(String, String)],
    what: &str,
) -> Result<Vec<RecordBatch>> {
    let named: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let reply = http
        .send(Method::GET, url, &named, None, CHUNK_LIMIT)
        .await?;
    if !reply.status.is_success() {
        let mut e = errors::http(
            reply.status.as_u16(),
            &format!("{what}: downloading a result chunk"),
            "the chunk's storage",
            false,
        );
        // An expired or refused presigned URL (403) is cured by running the statement again: the retry does.
        if reply.status.as_u16() == 403 {
            if let Error::Query { transient, .. } = &mut e {
                *transient = true;
            }
        }
        return Err(e);
    }
    ipc(&reply.body, what)
}

/// The record batches of one Arrow IPC stream, gunzipped first when it is gzip.
pub fn ipc(bytes: &[u8], what: &str) -> Result<Vec<RecordBatch>> {
    let mut plain = Vec::new();
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut plain)
            .map_err(|e| errors::malformed(what, &format!("a gzipped chunk: {e}")))?;
        plain.as_slice()
    } else {
        bytes
    };
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| errors::malformed(what, &format!("an Arrow stream: {e}")))?;
    reader
        .map(|b| b.map_err(|e| errors::malformed(what, &format!("an Arrow batch: {e}"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chunk_headers_are_the_replys_or_made_from_the_qrmk() {
        let given = json!({"chunkHeaders": {"x-amz-server-side-encryption-customer-key": "K"}, "qrmk": "Q"});
        assert_eq!(
            chunk_headers(&given),
            vec![(
                "x-amz-server-side-encryption-customer-key".into(),
                "K".into()
            )]
        );
        let sse = chunk_headers(&json!({"qrmk": "Q"}));
        assert_eq!(sse.len(), 2);
        assert_eq!(sse[1].1, "Q");
        assert!(chunk_headers(&json!({})).is_empty());
    }
}
