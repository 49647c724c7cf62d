//! Reading a POST body as JSON: no query string, a bounded size, and errors that name the field
//! at fault without ever repeating what the caller sent (it may hold a key).

use axum::body::Body;
use axum::http::{header, HeaderMap, Uri};
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// The field names of every request this server reads: a location in an error is built only
/// from these and array indexes, never from the caller's own text.
const KNOWN_FIELDS: &[&str] = &[
    "key",
    "scopes",
    "permissions",
    "apiId",
    "tags",
    "credits",
    "cost",
    "ratelimits",
    "name",
    "limit",
    "duration",
    "migrationId",
];

/// Reads the whole body (at most `limit` bytes) and parses it as `T`.
pub async fn read_json<T: DeserializeOwned>(
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, Problem> {
    if uri.query().is_some() {
        return Err(Problem::bad_request(
            "query_string",
            format!(
                "{} takes no query string: send everything in the JSON body.",
                uri.path()
            ),
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        drain(body).await;
        return Err(Problem::too_large(limit));
    }
    let bytes = read_at_most(body, limit).await?;
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(Problem::bad_request(
                "unreadable_body",
                "The request body is empty: send a JSON object.",
            ))
        }
        // serde would also read a struct from an array of its fields.
        Some(b'[') => return Err(Problem::invalid_field("body", "must be a JSON object")),
        Some(_) => {}
    }
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    let value =
        serde_path_to_error::deserialize::<_, T>(&mut deserializer).map_err(|e| explain(&e))?;
    deserializer.end().map_err(|_| {
        Problem::bad_request(
            "unreadable_body",
            "The request body has more after its JSON object.",
        )
    })?;
    Ok(value)
}

/// The whole body if it is at most `limit` bytes; 413 (after draining the rest) if not.
async fn read_at_most(mut body: Body, limit: usize) -> Result<Vec<u8>, Problem> {
    use http_body_util::BodyExt;
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            Problem::bad_request("unreadable_body", "The request body could not be read.")
        })?;
        if let Some(data) = frame.data_ref() {
            if bytes.len() + data.len() > limit {
                drain(body).await;
                return Err(Problem::too_large(limit));
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(bytes)
}

/// Reads and drops what is left of a refused body (at most [`DRAIN_LIMIT`] bytes, for at most
/// two seconds), so a client still sending it reads the 413 instead of a reset connection.
async fn drain(mut body: Body) {
    use http_body_util::BodyExt;
    let discard = async {
        let mut seen = 0;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), discard).await;
}

/// The most of a refused body [`drain`] reads; past it the connection is closed.
const DRAIN_LIMIT: usize = 4 * 1024 * 1024;

/// `body.scopes[2]`: the path of the failing value, cut short at anything the caller named.
fn location(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::from("body");
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } if KNOWN_FIELDS.contains(&key.as_str()) => {
                out.push('.');
                out.push_str(key);
            }
            _ => break,
        }
    }
    out
}

/// Plain words for a JSON error, built from what the schema expected (never from the value).
fn explain(error: &serde_path_to_error::Error<serde_json::Error>) -> Problem {
    use serde_json::error::Category;
    let inner = error.inner();
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => Problem::bad_request(
            "unreadable_body",
            format!(
                "The request body is not valid JSON (line {}, column {}).",
                inner.line(),
                inner.column()
            ),
        ),
        Category::Data => {
            let text = inner.to_string();
            let expected = text
                .split_once(", expected ")
                .map(|(_, rest)| rest.rsplit_once(" at line ").map_or(rest, |(e, _)| e));
            let message =
                if text.starts_with("missing field") || text.starts_with("duplicate field") {
                    text.rsplit_once(" at line ")
                        .map_or(text.as_str(), |(m, _)| m)
                        .to_owned()
                } else if text.starts_with("unknown field") {
                    format!(
                        "has a field this endpoint does not take (it takes {})",
                        expected.unwrap_or("none")
                    )
                } else if text.starts_with("invalid type") && error.path().iter().next().is_none() {
                    "must be a JSON object".to_owned()
                } else if text.starts_with("invalid type") {
                    format!(
                        "has the wrong type: expected {}",
                        expected.unwrap_or("another type")
                    )
                } else {
                    format!(
                        "has an invalid value: expected {}",
                        expected.unwrap_or("another value")
                    )
                };
            let location = location(error.path());
            Problem::invalid_field(&location, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        key: String,
        #[serde(default)]
        scopes: Vec<String>,
    }

    fn problem(body: &str) -> Problem {
        let mut de = serde_json::Deserializer::from_str(body);
        let error = serde_path_to_error::deserialize::<_, Sample>(&mut de).expect_err(body);
        explain(&error)
    }

    #[test]
    fn errors_name_the_field_but_never_the_value() {
        let secret = "kw_AAAAAAAAAA_secretsecretsecretsecretsecretsecre";
        let cases = [
            (r#"{"key": 5}"#.to_owned(), "body.key", "wrong type"),
            (
                format!(r#"{{"key": "x", "scopes": "{secret}"}}"#),
                "body.scopes",
                "wrong type",
            ),
            (
                r#"{"key": "x", "scopes": ["a", 7]}"#.to_owned(),
                "body.scopes[1]",
                "wrong type",
            ),
            (
                format!(r#"{{"key": "x", "{secret}": 1}}"#),
                "body",
                "does not take",
            ),
            (
                r#"{"scopes": []}"#.to_owned(),
                "body",
                "missing field `key`",
            ),
            (format!(r#""{secret}""#), "body", "JSON object"),
        ];
        for (body, location, words) in cases {
            let p = problem(&body);
            assert_eq!(p.errors[0].location, location, "{body}");
            assert!(p.detail.contains(words), "{body}: {}", p.detail);
            assert!(!p.detail.contains("secret"), "{body}: {}", p.detail);
        }
        let syntax = problem("{not json");
        assert_eq!(syntax.slug, "unreadable_body");
    }
}
