//! View pieces: one transcript entry, its text and links. Plain functions,
//! not components (see lib.rs). All text is rendered as text nodes.

use leptos::either::Either;
use leptos::prelude::*;

use crate::links::{self, Piece};
use crate::transcript::{Entry, Kind};

/// One transcript entry.
pub fn message(entry: &Entry) -> impl IntoView + use<> {
    view! {
        <div class=entry.kind.class()>
            {(entry.kind == Kind::Handoff).then(|| view! { <strong class="tag">"Our team can help"</strong> })}
            {linked(&entry.text)}
        </div>
    }
}

/// `text` with its `http(s)` URLs as `<a>` elements that open a new tab.
fn linked(text: &str) -> Vec<Either<String, impl IntoView + use<>>> {
    links::split(text)
        .into_iter()
        .map(|piece| match piece {
            Piece::Text(text) => Either::Left(text.to_owned()),
            Piece::Link(url) => {
                let href = url.to_owned();
                Either::Right(
                    view! { <a href=href target="_blank" rel="noopener noreferrer">{url.to_owned()}</a> },
                )
            }
        })
        .collect()
}
