//! Static files: the built widget and the demo page's files, read once at
//! start-up, compressed once (gzip by Zopfli and brotli, best levels), and served from
//! memory with an ETag. Content-hashed names are cached forever; stable names
//! (`widget.js`, `widget.css`) briefly, then revalidated.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Where the widget lives under the API base.
pub const WIDGET_PREFIX: &str = "/public/v1/support";
/// The route of the widget's files (a test holds it under [`WIDGET_PREFIX`]).
pub const WIDGET_FILES: &str = "/public/v1/support/{file}";
/// In the loader (`widget/loader.js`), replaced by the content hash of the wasm build.
const VERSION_PLACEHOLDER: &str = "__SUPPORT_CHAT_VERSION__";
/// In the loader, replaced by `--max-message-chars`, so the widget's limit is the server's.
const MAX_CHARS_PLACEHOLDER: &str = "__SUPPORT_CHAT_MAX_CHARS__";
const SHORT_CACHE: &str = "public, max-age=300";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[derive(Debug)]
struct Asset {
    content_type: &'static str,
    cache_control: &'static str,
    identity: Variant,
    gzip: Option<Variant>,
    brotli: Option<Variant>,
}

/// One encoding of an asset, with its own validator: the gzip and brotli
/// bodies are different bytes, so they have different ETags (RFC 9110 §8.8.3).
#[derive(Debug)]
struct Variant {
    body: Bytes,
    etag: HeaderValue,
    encoding: Option<&'static str>,
}

impl Variant {
    /// `tag` is the identity body's hash; encodings add a suffix.
    fn new(body: Bytes, tag: &str, encoding: Option<&'static str>) -> Self {
        let etag = match encoding {
            None => format!("\"{tag}\""),
            Some(coding) => format!("\"{tag}-{coding}\""),
        };
        Self {
            body,
            etag: HeaderValue::from_str(&etag).expect("hex and a coding name make a valid header"),
            encoding,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Assets {
    files: Arc<HashMap<String, Asset>>,
}

/// A file of the widget or the demo page that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("cannot read {} (build the widget with `make build`)", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not UTF-8", .0.display())]
    NotUtf8(PathBuf),
}

fn read(path: &Path) -> Result<Vec<u8>, AssetError> {
    std::fs::read(path).map_err(|source| AssetError::Read {
        path: path.to_owned(),
        source,
    })
}

fn hash(parts: &[&[u8]]) -> String {
    let mut hasher = DefaultHasher::new();
    for part in parts {
        hasher.write(part);
    }
    format!("{:016x}", hasher.finish())
}

impl Assets {
    /// The widget as `make widget` leaves it in `widget_dir`, telling visitors
    /// the server's `max_message_chars`, and every file of `public_dir`.
    pub fn load(
        widget_dir: &Path,
        public_dir: &Path,
        max_message_chars: usize,
    ) -> Result<Self, AssetError> {
        let glue = read(&widget_dir.join("pkg/support_chat_widget.js"))?;
        let wasm = read(&widget_dir.join("pkg/support_chat_widget_bg.wasm"))?;
        let loader_path = widget_dir.join("widget.js");
        let loader =
            String::from_utf8(read(&loader_path)?).map_err(|_| AssetError::NotUtf8(loader_path))?;
        let css = read(&widget_dir.join("widget.css"))?;
        let version = hash(&[&glue, &wasm]);

        let mut files = HashMap::new();
        let mut add = |path: String, bytes: Vec<u8>, cache| {
            files.insert(path.clone(), Asset::new(&path, bytes, cache));
        };
        add(
            format!("{WIDGET_PREFIX}/widget.js"),
            loader
                .replace(VERSION_PLACEHOLDER, &version)
                .replace(MAX_CHARS_PLACEHOLDER, &max_message_chars.to_string())
                .into(),
            SHORT_CACHE,
        );
        add(format!("{WIDGET_PREFIX}/widget.css"), css, SHORT_CACHE);
        add(
            format!("{WIDGET_PREFIX}/widget-{version}.js"),
            glue,
            IMMUTABLE,
        );
        add(
            format!("{WIDGET_PREFIX}/widget-{version}.wasm"),
            wasm,
            IMMUTABLE,
        );
        let entries = std::fs::read_dir(public_dir).map_err(|source| AssetError::Read {
            path: public_dir.to_owned(),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Hidden files (`.env`, editor swap files) are never served.
            if entry.file_type().is_ok_and(|t| t.is_file()) && !name.starts_with('.') {
                add(format!("/{name}"), read(&entry.path())?, SHORT_CACHE);
            }
        }
        Ok(Self {
            files: Arc::new(files),
        })
    }
}

impl Asset {
    fn new(path: &str, bytes: Vec<u8>, cache_control: &'static str) -> Self {
        let content_type = content_type(path);
        let compressible =
            !content_type.starts_with("image/") || content_type.starts_with("image/svg");
        let tag = hash(&[&bytes]);
        let (gzip, brotli) = if compressible {
            (
                Some(Variant::new(gzip(&bytes), &tag, Some("gzip"))),
                Some(Variant::new(brotli(&bytes), &tag, Some("br"))),
            )
        } else {
            (None, None)
        };
        Self {
            content_type,
            cache_control,
            identity: Variant::new(bytes.into(), &tag, None),
            gzip,
            brotli,
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Zopfli's deflate in a gzip wrapper: any gzip reader reads it, and it is
/// about 5 % smaller than zlib's best (BENCHMARKS.md, "Widget transfer
/// size"). Five iterations rather than its default fifteen: within 0.1 % of
/// them, in a third of the start-up time.
fn gzip(bytes: &[u8]) -> Bytes {
    let mut out = Vec::new();
    let options = zopfli::Options {
        iteration_count: std::num::NonZeroU64::new(5).expect("five is not zero"),
        ..zopfli::Options::default()
    };
    zopfli::compress(options, zopfli::Format::Gzip, bytes, &mut out).expect("writing to memory");
    out.into()
}

fn brotli(bytes: &[u8]) -> Bytes {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).expect("writing to memory");
    out.into()
}

/// Whether `Accept-Encoding` accepts `coding` (a `q=0` refuses it).
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|value| {
            value.split(',').any(|item| {
                let mut parts = item.split(';').map(str::trim);
                let name_matches = parts
                    .next()
                    .is_some_and(|name| name.eq_ignore_ascii_case(coding));
                let refused = parts.any(|p| {
                    p.strip_prefix("q=")
                        .is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q == 0.0))
                });
                name_matches && !refused
            })
        })
}

/// GET handler for every asset path; unknown paths are the envelope's 404.
pub async fn file(State(assets): State<Assets>, uri: Uri, headers: HeaderMap) -> Response {
    let Some(asset) = assets.files.get(uri.path()) else {
        return ApiError::NotFound.into_response();
    };
    let variant = match (&asset.brotli, &asset.gzip) {
        (Some(br), _) if accepts(&headers, "br") => br,
        (_, Some(gz)) if accepts(&headers, "gzip") => gz,
        _ => &asset.identity,
    };
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tag| etag_matches(tag, &variant.etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Body::from(variant.body.clone()).into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        if let Some(encoding) = variant.encoding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        response
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, variant.etag.clone());
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(asset.cache_control),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

fn etag_matches(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(list) = if_none_match.to_str() else {
        return false;
    };
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t.as_bytes() == etag.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(accept));
        h
    }

    #[test]
    fn the_widget_files_route_is_under_the_widget_prefix() {
        assert_eq!(WIDGET_FILES, format!("{WIDGET_PREFIX}/{{file}}"));
    }

    #[test]
    fn accept_encoding_is_parsed_with_quality_zero_as_refusal() {
        assert!(accepts(&headers("gzip, deflate, br"), "br"));
        assert!(accepts(&headers("gzip;q=0.5"), "gzip"));
        assert!(!accepts(&headers("gzip, br;q=0"), "br"));
        assert!(!accepts(&headers("identity"), "gzip"));
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("/x/widget-abc.wasm"), "application/wasm");
        assert_eq!(content_type("/widget.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("/demo.css"), "text/css; charset=utf-8");
    }

    #[test]
    fn etags_match_strong_weak_and_star() {
        let tag = HeaderValue::from_static("\"abc\"");
        assert!(etag_matches(&HeaderValue::from_static("\"abc\""), &tag));
        assert!(etag_matches(
            &HeaderValue::from_static("\"x\", W/\"abc\""),
            &tag
        ));
        assert!(etag_matches(&HeaderValue::from_static("*"), &tag));
        assert!(!etag_matches(&HeaderValue::from_static("\"abd\""), &tag));
    }
}
