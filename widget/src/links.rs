//! Where the links are in a reply. Replies are plain text; `http(s)` URLs in
//! them are shown as links, everything else as text (never as markup).

/// A piece of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Link(&'a str),
}

/// Splits `text` into text and `http(s)` links. A URL ends at white space
/// or a character that cannot be in one unquoted (`<>"'` and backtick);
/// trailing punctuation (`.,;:!?)]`) stays text, and a bare scheme is text.
/// Always at least one piece.
pub fn split(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = [rest.find("https://"), rest.find("http://")]
        .into_iter()
        .flatten()
        .min()
    {
        let (before, from) = rest.split_at(start);
        let end = from
            .find(|c: char| c.is_whitespace() || "<>\"'`".contains(c))
            .unwrap_or(from.len());
        let url = from[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        let (url, after) = from.split_at(url.len());
        if !before.is_empty() {
            pieces.push(Piece::Text(before));
        }
        if url.len() > "https://".len() {
            pieces.push(Piece::Link(url));
        } else {
            pieces.push(Piece::Text(url));
        }
        rest = after;
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::Piece::{Link, Text};
    use super::*;

    #[test]
    fn urls_become_links_and_trailing_punctuation_stays_text() {
        assert_eq!(
            split("See https://example.com/faq. Or http://a.example/x?y=1)!"),
            [
                Text("See "),
                Link("https://example.com/faq"),
                Text(". Or "),
                Link("http://a.example/x?y=1"),
                Text(")!"),
            ]
        );
    }

    #[test]
    fn a_url_ends_at_white_space_or_a_quote_or_angle_bracket() {
        assert_eq!(
            split("https://a.example/x\"onmouseover=1 https://b.example<c"),
            [
                Link("https://a.example/x"),
                Text("\"onmouseover=1 "),
                Link("https://b.example"),
                Text("<c"),
            ]
        );
    }

    #[test]
    fn plain_text_bare_schemes_and_empty_text_are_text() {
        assert_eq!(split("no links here"), [Text("no links here")]);
        assert_eq!(
            split("just https:// alone"),
            [Text("just "), Text("https://"), Text(" alone")]
        );
        assert_eq!(split(""), [Text("")]);
        assert_eq!(split("javascript:alert(1)"), [Text("javascript:alert(1)")]);
    }
}
