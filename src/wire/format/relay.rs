//! Writing a relayed DogStatsD line ([`Connector::send_line`](crate::Connector::send_line)
//! on a connector declared DogStatsD): the line's own fields as written.
//!
//! The connector adds what it adds to every line (the prefix, the type
//! prefix, the global tags before the line's tags) and nothing else: the
//! value (packed values included), the `|@rate` and the DogStatsD fields
//! (`|T`, `|c:`, `|e:`, `|card:`) are copied as written, in the order
//! written. The connector's own origin fields are added only where the line
//! has none: its `|c:` and `|e:` when the line carries neither (an origin is
//! the line's sender's, never half the relay's), its `|card:` when the line
//! carries none.

use super::{put, LineFormat};
use crate::error::Error;
use crate::wire::metric::{MetricType, TagFormat};

impl LineFormat {
    /// Appends the relayed line `text` (parsed as `name`, `value`, `kind`,
    /// checked by the caller) with `tags` (the line's own, or the overflow
    /// tag) in the configured dialect. On error (the line would exceed the
    /// length limit) `buf` is left as it was.
    pub(crate) fn write_relayed(
        &self,
        buf: &mut Vec<u8>,
        text: &str,
        name: &str,
        value: &str,
        kind: MetricType,
        tags: &[(&str, &str)],
    ) -> Result<(), Error> {
        let start = buf.len();
        put(buf, &self.prefix);
        if self.type_prefixes {
            put(buf, kind.type_prefix().as_bytes());
        }
        put(buf, name.as_bytes());
        let has_tags = !tags.is_empty() || !self.global_tags.is_empty();
        let dogstatsd_tags = self.tag_format == TagFormat::DogStatsd;
        if has_tags && !dogstatsd_tags {
            self.write_tags(buf, tags);
        }
        buf.push(b':');
        put(buf, value.as_bytes());
        buf.push(b'|');
        put(buf, kind.code().as_bytes());
        // The fields after the type, in the order written; the tags go
        // where the line had them, or after its rate.
        let line = text.trim_end_matches(['\n', '\r']);
        let fields = line.split('|').skip(2);
        let mut tags_written = !has_tags || !dogstatsd_tags;
        // Where the line has no tags of its own, the global ones go after
        // its rate.
        let own_tags = line.split('|').skip(2).any(|field| field.starts_with('#'));
        let (mut origin, mut cardinality) = (false, false);
        for field in fields {
            if field.starts_with('#') {
                if !tags_written {
                    put(buf, b"|#");
                    self.write_tags(buf, tags);
                    tags_written = true;
                }
                continue;
            }
            if !own_tags && !field.starts_with('@') && !tags_written {
                put(buf, b"|#");
                self.write_tags(buf, tags);
                tags_written = true;
            }
            origin |= field.starts_with("c:") || field.starts_with("e:");
            cardinality |= field.starts_with("card:");
            buf.push(b'|');
            put(buf, field.as_bytes());
        }
        if !tags_written {
            put(buf, b"|#");
            self.write_tags(buf, tags);
        }
        if !origin {
            put(buf, &self.origin);
        }
        if let (false, Some(card)) = (cardinality, self.cardinality) {
            put(buf, b"|card:");
            put(buf, card.as_str().as_bytes());
        }
        buf.push(b'\n');
        self.check_length(buf, start)
    }
}
