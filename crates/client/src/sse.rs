//! A small server-sent-events reader (the WHATWG event-stream format):
//! enough for corridord's watch streams, which send `id`, `event` and
//! one-line `data` fields.

use bytes::Bytes;
use futures::{Stream, StreamExt};

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Parses a byte stream into events; comments (keep-alives) are skipped.
pub fn events<S, E>(bytes: S) -> impl Stream<Item = Result<SseEvent, E>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Send + 'static,
{
    let state = (Box::pin(bytes), String::new(), false);
    futures::stream::unfold(state, |(mut bytes, mut buffer, mut done)| async move {
        loop {
            if let Some(event) = take_event(&mut buffer) {
                if event.data.is_empty() && event.event.is_empty() {
                    continue;
                }
                return Some((Ok(event), (bytes, buffer, done)));
            }
            if done {
                return None;
            }
            match bytes.next().await {
                Some(Ok(chunk)) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Some(Err(error)) => {
                    done = true;
                    return Some((Err(error), (bytes, buffer, done)));
                }
                None => done = true,
            }
        }
    })
}

/// Removes and parses the first complete event (terminated by a blank
/// line) from the buffer.
fn take_event(buffer: &mut String) -> Option<SseEvent> {
    let normalised = buffer.replace("\r\n", "\n");
    if normalised.len() != buffer.len() {
        *buffer = normalised;
    }
    let end = buffer.find("\n\n")?;
    let block: String = buffer.drain(..end + 2).collect();
    let mut event = SseEvent::default();
    let mut data = Vec::new();
    for line in block.lines() {
        if line.starts_with(':') || line.is_empty() {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => event.id = Some(value.to_string()),
            "event" => event.event = value.to_string(),
            "data" => data.push(value.to_string()),
            _ => {}
        }
    }
    event.data = data.join("\n");
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_split_across_chunks_are_reassembled() {
        let chunks = vec![
            Ok::<_, ()>(Bytes::from_static(b": keep-alive\n\nid: 7\nevent: ADD")),
            Ok(Bytes::from_static(
                b"ED\ndata: {\"a\":1}\n\nid: 8\r\nevent: DELETED\r\n",
            )),
            Ok(Bytes::from_static(b"data: {}\r\n\r\n")),
        ];
        let parsed: Vec<_> = events(futures::stream::iter(chunks)).collect().await;
        assert_eq!(
            parsed,
            vec![
                Ok(SseEvent {
                    id: Some("7".into()),
                    event: "ADDED".into(),
                    data: "{\"a\":1}".into()
                }),
                Ok(SseEvent {
                    id: Some("8".into()),
                    event: "DELETED".into(),
                    data: "{}".into()
                }),
            ]
        );
    }
}
