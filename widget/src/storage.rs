//! The conversation kept in `sessionStorage` (per host-page origin and tab),
//! so a reload or a new page on the same site shows it again. Nothing is
//! stored before the visitor's first message.
//!
//! Key [`KEY`]; value one JSON object (bump the key's suffix if it changes):
//!
//! ```text
//! { "m": [ { "k": <kind number, transcript::Kind::stored>, "t": <text>,
//!            "r": <an answer's reply id, if any>, "v": <the visitor's vote, if any> }, ... ],
//!   "s": <session id, absent before the first reply>,
//!   "o": <panel open: true/false>,
//!   "q": [ <quick replies on show> ] }
//! ```
//!
//! `m` holds the newest entries after the greeting, capped by [`capped`]:
//! at most [`MAX_ENTRIES`] entries and about [`MAX_TEXT_BYTES`] bytes of text.

use crate::transcript::Entry;

pub const KEY: &str = "support-chat:v1";
pub const MAX_ENTRIES: usize = 40;
pub const MAX_TEXT_BYTES: usize = 24_000;

/// The newest entries that fit the caps, oldest first.
pub fn capped(entries: &[Entry]) -> &[Entry] {
    let mut bytes = 0;
    let kept = entries
        .iter()
        .rev()
        .take(MAX_ENTRIES)
        .take_while(|entry| {
            bytes += entry.text.len();
            bytes <= MAX_TEXT_BYTES
        })
        .count();
    &entries[entries.len() - kept..]
}

#[cfg(target_arch = "wasm32")]
pub use browser::{forget, load, store};

#[cfg(target_arch = "wasm32")]
mod browser {
    use js_sys::{Array, JSON, Object};
    use leptos::prelude::window;
    use wasm_bindgen::{JsCast, JsValue};

    use super::{KEY, capped};
    use crate::conversation::Saved;
    use crate::js::{get, set, string_array, strings};
    use crate::transcript::{Entry, Kind};

    fn session_storage() -> Option<web_sys::Storage> {
        window().session_storage().ok().flatten()
    }

    /// This tab's saved conversation; empty when there is none (or it is unreadable).
    pub fn load() -> Saved {
        let saved = session_storage()
            .and_then(|s| s.get_item(KEY).ok().flatten())
            .and_then(|text| JSON::parse(&text).ok())
            .unwrap_or(JsValue::UNDEFINED);
        let mut entries = Vec::new();
        if let Ok(list) = get(&saved, "m").dyn_into::<Array>() {
            for item in list.iter() {
                if let (Some(kind), Some(text)) = (
                    get(&item, "k").as_f64().and_then(Kind::from_stored),
                    get(&item, "t").as_string(),
                ) {
                    entries.push(Entry {
                        reply: get(&item, "r").as_string(),
                        vote: get(&item, "v").as_bool(),
                        ..Entry::new(kind, text)
                    });
                }
            }
        }
        Saved {
            entries,
            session: get(&saved, "s").as_string(),
            open: get(&saved, "o").as_bool(),
            suggestions: strings(&get(&saved, "q")),
        }
    }

    /// Removes this tab's saved conversation (the visitor erased it).
    pub fn forget() {
        if let Some(storage) = session_storage() {
            let _ = storage.remove_item(KEY);
        }
    }

    /// Saves the conversation (its entries after the greeting), capped.
    pub fn store(saved: &Saved) {
        let Some(storage) = session_storage() else {
            return;
        };
        let state = Object::new();
        let list = Array::new();
        for entry in capped(&saved.entries) {
            let item = Object::new();
            set(&item, "k", &entry.kind.stored().into());
            set(&item, "t", &entry.text.as_str().into());
            if let Some(reply) = &entry.reply {
                set(&item, "r", &reply.as_str().into());
            }
            if let Some(vote) = entry.vote {
                set(&item, "v", &vote.into());
            }
            list.push(&item);
        }
        set(&state, "m", &list);
        if let Some(id) = &saved.session {
            set(&state, "s", &id.as_str().into());
        }
        if let Some(open) = saved.open {
            set(&state, "o", &open.into());
        }
        set(&state, "q", &string_array(&saved.suggestions));
        if let Ok(text) = JSON::stringify(&state) {
            let _ = storage.set_item(KEY, &String::from(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Kind;

    fn entries(sizes: &[usize]) -> Vec<Entry> {
        sizes
            .iter()
            .map(|&n| Entry::new(Kind::Visitor, "x".repeat(n)))
            .collect()
    }

    #[test]
    fn a_short_conversation_is_kept_whole() {
        let all = entries(&[1, 2, 3]);
        assert_eq!(capped(&all), &all[..]);
        assert!(capped(&[]).is_empty());
    }

    #[test]
    fn only_the_newest_forty_entries_are_kept() {
        let all = entries(&[1; 45]);
        let kept = capped(&all);
        assert_eq!(kept.len(), MAX_ENTRIES);
        assert_eq!(kept, &all[5..]);
    }

    #[test]
    fn older_entries_go_once_the_text_passes_the_byte_cap() {
        let all = entries(&[10_000, 10_000, 10_000, 4_001]);
        assert_eq!(capped(&all), &all[2..]);
        let exact = entries(&[1, 12_000, 12_000]);
        assert_eq!(capped(&exact), &exact[1..]);
        assert!(capped(&entries(&[MAX_TEXT_BYTES + 1])).is_empty());
    }
}
