//! Replies read whole, and the RFC 9457 problem every refusal must be.

use reqwest::header::HeaderMap;
use serde_json::Value;

/// A response read whole: status, headers and the body as JSON (`Null`
/// when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// The `content-type` header, or "" without one.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }

    /// The JSON pointer of the problem's first invalid field.
    pub fn pointer(&self) -> &Value {
        &self.body["errors"][0]["pointer"]
    }
}

/// Sends `body` (as `application/json`) with `method` to `url`.
pub async fn send(client: &reqwest::Client, method: &str, url: String, body: &str) -> Reply {
    let response = client
        .request(method.parse().unwrap(), url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    Reply::read(response).await
}

/// `reply` is an `application/problem+json` problem with `status`, a type
/// URI and a title.
pub fn assert_problem(reply: &Reply, status: u16) {
    let body = &reply.body;
    assert_eq!(reply.status, status, "{body}");
    assert_eq!(reply.content_type(), "application/problem+json", "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["type"].as_str().unwrap().starts_with("https://"),
        "{body}"
    );
    assert!(body["title"].is_string(), "{body}");
}
