//! The answering engine behind the chat endpoint.
//!
//! Placeholder until the knowledge-base engine lands: a handful of articles
//! about the lender, matched by keyword overlap.

/// What the assistant says back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub suggestions: Vec<String>,
    pub handoff: bool,
}

/// What a conversation remembers of one exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    pub message: String,
    pub article: Option<&'static str>,
}

pub trait Assistant: Send + Sync + 'static {
    /// Answers `message` given the conversation so far (oldest turn first).
    fn reply(&self, message: &str, history: &[Turn]) -> (Reply, Turn);
}

struct Article {
    id: &'static str,
    keywords: &'static [&'static str],
    answer: &'static str,
}

const CONTACT: &str =
    "You can reach our team at support@example.com or on 0800 000 0000 (sample contact details).";

const ARTICLES: &[Article] = &[
    Article {
        id: "application-time",
        keywords: &[
            "long",
            "take",
            "application",
            "apply",
            "quick",
            "fast",
            "time",
        ],
        answer: "Applying online takes a few minutes, and we aim to give you a decision quickly once we have what we need. Your offer shows the exact timings.",
    },
    Article {
        id: "eligibility",
        keywords: &[
            "who", "eligible", "limited", "company", "sole", "trader", "qualify",
        ],
        answer: "We lend to UK limited companies: the company borrows, not its directors personally.",
    },
    Article {
        id: "personal-guarantee",
        keywords: &["personal", "guarantee", "director", "liable", "security"],
        answer: "We do not ask directors for a personal guarantee: the loan is to your company.",
    },
    Article {
        id: "human",
        keywords: &[
            "human", "person", "someone", "speak", "call", "agent", "contact",
        ],
        answer: CONTACT,
    },
];

#[derive(Default)]
pub struct KeywordAssistant;

impl Assistant for KeywordAssistant {
    fn reply(&self, message: &str, _history: &[Turn]) -> (Reply, Turn) {
        let words: Vec<String> = message
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_lowercase)
            .collect();
        let best = ARTICLES
            .iter()
            .map(|a| {
                (
                    a.keywords
                        .iter()
                        .filter(|k| words.iter().any(|w| w == *k))
                        .count(),
                    a,
                )
            })
            .max_by_key(|(score, _)| *score)
            .filter(|(score, _)| *score >= 2);
        let reply = match best {
            Some((_, article)) => Reply {
                text: article.answer.into(),
                suggestions: vec![],
                handoff: article.id == "human",
            },
            None => Reply {
                text: format!("I'm not sure I can answer that. {CONTACT}"),
                suggestions: vec![],
                handoff: true,
            },
        };
        (
            reply,
            Turn {
                message: message.into(),
                article: best.map(|(_, a)| a.id),
            },
        )
    }
}
