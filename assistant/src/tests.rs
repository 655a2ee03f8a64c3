//! Engine-level tests: sample knowledge base answers, thresholds,
//! clarification, multi-turn behaviour and handoffs.

use super::encoder::test_encoder;
use super::*;
use std::sync::OnceLock;

/// A visitor's message, as the server would have parsed it.
fn m(text: &str) -> Message {
    Message::parse(text, usize::MAX).unwrap()
}

/// The reply and the turn of `text` after `history`.
fn ask(e: &Engine, text: &str, history: &[Turn]) -> (Reply, Turn) {
    let answer = e.reply(&m(text), history);
    (answer.reply, answer.turn)
}

fn sample() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new(KnowledgeBase::sample(), Some(test_encoder())))
}

fn answered(turn: &Turn) -> Option<&str> {
    match &turn.outcome {
        Outcome::Answered { article } => Some(article),
        _ => None,
    }
}

fn contact() -> String {
    KnowledgeBase::sample()
        .get(HANDOFF_ARTICLE_ID)
        .unwrap()
        .body
        .clone()
}

#[test]
fn sample_answers_common_questions() {
    let e = sample();
    for (q, id) in [
        ("How long does an application take?", "application-time"),
        ("do I need a personal guarantee", "personal-guarantee"),
        ("Who can apply?", "who-can-apply"),
        ("what documents do I need to apply", "what-you-need"),
        ("what's your interest rate?", "cost"),
        ("how do I complain", "complaints"),
        ("do I need an account to chat", "about-chat"),
    ] {
        let (r, t) = ask(e, q, &[]);
        assert_eq!(answered(&t), Some(id), "{q}: {t:?}");
        assert!(!r.handoff, "{q}");
        assert!(!r.text.is_empty());
    }
}

#[test]
fn greetings_thanks_goodbyes() {
    let e = sample();
    for (q, id) in [
        ("hello", "greeting"),
        ("Hi there!", "greeting"),
        ("good morning", "greeting"),
        ("thanks a lot", "thanks"),
        ("bye", "goodbye"),
    ] {
        let (_, t) = ask(e, q, &[]);
        assert_eq!(answered(&t), Some(id), "{q}: {t:?}");
    }
}

#[test]
fn talk_to_a_person_hands_off_with_contact() {
    let e = sample();
    let (r, t) = ask(e, "can I speak to a person", &[]);
    assert_eq!(answered(&t), Some(HANDOFF_ARTICLE_ID));
    assert!(r.handoff);
    assert!(r.text.contains("support@example.com"));
    assert!(r.text.contains("0800 000 0000"));
}

#[test]
fn out_of_scope_hands_off() {
    let e = sample();
    for q in [
        "what's the weather in Paris",
        "tell me a joke",
        "write a python function to sort a list",
        "give me a recipe for chocolate cake",
        "which crypto coin should I buy",
    ] {
        let (r, t) = ask(e, q, &[]);
        assert!(r.handoff, "{q}: {t:?}");
        assert!(matches!(t.outcome, Outcome::Handoff { .. }), "{q}: {t:?}");
        assert!(r.text.contains(&contact()), "{q}");
    }
}

#[test]
fn other_products_hand_off_with_the_contact_instead_of_a_near_miss_article() {
    let e = sample();
    for q in [
        "Do you provide mortgages?",
        "can I apply for a credit card",
        "I'd like a car loan",
        "I need a personal loan for my wedding",
        "do you have savings accounts",
    ] {
        let (r, t) = ask(e, q, &[]);
        assert!(r.handoff, "{q}: {t:?}");
        assert!(r.text.contains(&contact()), "{q}: {}", r.text);
        assert!(
            matches!(&t.outcome, Outcome::Answered { article } if article == "other-products" || article == "personal-borrowing")
                || matches!(t.outcome, Outcome::Handoff { .. }),
            "{q}: {t:?}"
        );
    }
    // The company's own products still get their answers.
    for (q, id) in [
        ("what kind of finance do you provide", "what-we-offer"),
        ("do I need a personal guarantee", "personal-guarantee"),
    ] {
        assert_eq!(answered(&ask(e, q, &[]).1), Some(id), "{q}");
    }
}

#[test]
fn replies_never_echo_input() {
    let e = sample();
    for q in ["zqxjv wibble", "hello zqxjv", "personal guarantee zqxjv?"] {
        let (r, _) = ask(e, q, &[]);
        assert!(!r.text.to_lowercase().contains("zqxjv"), "{q}");
        assert!(
            r.suggestions
                .iter()
                .all(|s| !s.to_lowercase().contains("zqxjv"))
        );
    }
}

#[test]
fn empty_or_punctuation_only_hands_off() {
    let (r, t) = ask(sample(), "?!", &[]);
    assert!(r.handoff);
    assert_eq!(
        t.outcome,
        Outcome::Handoff {
            out_of_scope: false
        }
    );
}

#[test]
fn links_are_appended() {
    let a = Article {
        id: "a".into(),
        title: "Alpha".into(),
        questions: vec!["alpha question".into()],
        suggestions: vec![],
        links: vec!["https://example.com/alpha".into()],
        handoff: false,
        body: "Alpha answer.".into(),
    };
    let kb = KnowledgeBase::from_articles(vec![a], &[]).unwrap();
    let e = Engine::new(kb, Some(test_encoder()));
    let (r, _) = ask(&e, "Alpha", &[]);
    assert_eq!(r.text, "Alpha answer.\nMore: https://example.com/alpha");
}

fn two_close_articles() -> KnowledgeBase {
    let mk = |id: &str, title: &str, qs: &[&str]| Article {
        id: id.into(),
        title: title.into(),
        questions: qs.iter().map(|s| s.to_string()).collect(),
        suggestions: vec![],
        links: vec![],
        handoff: false,
        body: format!("Answer {id}"),
    };
    KnowledgeBase::from_articles(
        vec![
            mk(
                "card-fee",
                "Card fees",
                &["what is the card fee", "fee for card", "card charges"],
            ),
            mk(
                "transfer-fee",
                "Transfer fees",
                &[
                    "what is the transfer fee",
                    "fee for transfer",
                    "transfer charges",
                ],
            ),
        ],
        &[],
    )
    .unwrap()
}

#[test]
fn close_scores_ask_for_clarification_and_choice_resolves() {
    let cfg = EngineConfig {
        clarify_gap: 0.5,
        clarify_min_pair: 0.0,
        temperature: 5.0,
        min_margin: -10.0,
        use_oos_class: false,
        ..EngineConfig::default()
    };
    let e = Engine::with_config(two_close_articles(), cfg, Some(test_encoder()));
    let (r, t) = ask(&e, "what is the fee", &[]);
    assert!(!r.handoff);
    match &t.outcome {
        Outcome::Clarify { candidates } => assert_eq!(candidates.len(), 2),
        o => panic!("expected clarification, got {o:?}"),
    }
    let mut titles = r.suggestions.clone();
    titles.sort();
    assert_eq!(titles, vec!["Card fees", "Transfer fees"]);
    // The visitor picks a suggestion: exact title text resolves it.
    let (r2, t2) = ask(&e, "Transfer fees", &[t]);
    assert_eq!(answered(&t2), Some("transfer-fee"));
    assert_eq!(r2.text, "Answer transfer-fee");
}

#[test]
fn thresholds_control_answer_and_handoff() {
    // Same engine, stricter margin: the answer becomes a handoff.
    let strict = EngineConfig {
        min_margin: 5.0,
        ..EngineConfig::default()
    };
    let e = Engine::with_config(two_close_articles(), strict, Some(test_encoder()));
    let (r, t) = ask(&e, "what is the transfer fee", &[]);
    assert!(r.handoff);
    assert_eq!(
        t.outcome,
        Outcome::Handoff {
            out_of_scope: false
        }
    );
    assert!(r.text.contains(DEFAULT_CONTACT));

    let e = Engine::new(two_close_articles(), Some(test_encoder()));
    let (r, t) = ask(&e, "what is the transfer fee", &[]);
    assert!(!r.handoff);
    assert_eq!(answered(&t), Some("transfer-fee"));
    assert!(t.confidence > 0.5);
    // An impossible answer threshold never answers outright.
    let cfg = EngineConfig {
        answer_threshold: AnswerThreshold::Given(1.1),
        clarify_gap: 0.0,
        ..EngineConfig::default()
    };
    let engine = Engine::with_config(two_close_articles(), cfg, Some(test_encoder()));
    let (_, t) = ask(&engine, "what is the transfer fee", &[]);
    assert!(answered(&t).is_none());
}

#[test]
fn an_article_with_an_example_near_the_message_wins_and_how_in_scope_it_looks_does_not_move() {
    let without = Engine::with_config(
        KnowledgeBase::sample(),
        EngineConfig {
            neighbour_weight: 0.0,
            ..EngineConfig::default()
        },
        Some(test_encoder()),
    );
    // "can an LLP apply" is one of who-can-apply's questions; the linear
    // model alone prefers the chat's own capabilities article.
    let (_, t) = ask(&without, "what about LLPs?", &[]);
    assert_eq!(answered(&t), Some("capabilities"));
    let (_, t) = ask(sample(), "what about LLPs?", &[]);
    assert_eq!(answered(&t), Some("who-can-apply"));
    for message in [
        "what about LLPs?",
        "what is your share price",
        "can I repay early",
    ] {
        let (a, b) = (without.scope(message), sample().scope(message));
        assert_eq!(
            (a.score, a.article_over_oos, a.neighbour, a.oos_neighbour),
            (b.score, b.article_over_oos, b.neighbour, b.oos_neighbour),
            "{message}"
        );
    }
}

#[test]
fn short_follow_up_uses_previous_question() {
    let e = sample();
    let (_, alone) = ask(e, "and for directors?", &[]);
    assert_ne!(answered(&alone), Some("personal-guarantee"));
    let (_, first) = ask(e, "Do I need a personal guarantee?", &[]);
    assert_eq!(answered(&first), Some("personal-guarantee"));
    let (r, t) = ask(e, "and for directors?", &[first]);
    assert_eq!(answered(&t), Some("personal-guarantee"), "{t:?}");
    assert!(!r.handoff);
    // Turns remember the normalised message, not the raw text.
    assert_eq!(t.message, "and for directors");
}

#[test]
fn follow_up_does_not_override_clear_out_of_scope() {
    let e = sample();
    let (_, first) = ask(e, "can I speak to a person", &[]);
    let (r, t) = ask(e, "what's the weather in Paris", &[first]);
    assert!(r.handoff);
    assert_eq!(t.outcome, Outcome::Handoff { out_of_scope: true });
}

#[test]
fn repeated_handoffs_put_contact_first() {
    let e = sample();
    let (r1, t1) = ask(e, "tell me a joke", &[]);
    assert!(r1.handoff && r1.text.starts_with("Sorry"));
    let (r2, t2) = ask(
        e,
        "who won the football last night",
        std::slice::from_ref(&t1),
    );
    assert!(r2.handoff);
    assert!(
        r2.text.starts_with("It looks like I can't help"),
        "{}",
        r2.text
    );
    assert!(r2.text.contains("support@example.com"));
    assert!(r2.suggestions.is_empty());
    let (r3, _) = ask(e, "give me a lasagne recipe", &[t1, t2]);
    assert!(r3.text.starts_with("It looks like I can't help"));
}

#[test]
fn deterministic_across_engines() {
    let a = Engine::new(KnowledgeBase::sample(), Some(test_encoder()));
    let b = sample();
    for q in [
        "how long does it take",
        "hmm",
        "is it secured",
        "what about fees",
    ] {
        assert_eq!(ask(&a, q, &[]), ask(b, q, &[]));
    }
}

#[test]
fn engine_is_an_assistant() {
    fn takes(_: &dyn Assistant) {}
    takes(sample());
    let boxed: Box<dyn Assistant> =
        Box::new(Engine::new(two_close_articles(), Some(test_encoder())));
    let r = boxed.reply(&m("hello"), &[]).reply;
    assert!(!r.text.is_empty());
}

/// Replies to `first` with empty history, then to `follow_up` after it.
fn after(first: &str, follow_up: &str) -> (Reply, Turn) {
    let e = sample();
    let (_, t1) = ask(e, first, &[]);
    ask(e, follow_up, &[t1])
}

#[test]
fn how_long_after_a_complaint_answers_the_complaints_article() {
    let e = sample();
    // Alone, the question is about how long an application takes ...
    let (_, alone) = ask(e, "how long does that take?", &[]);
    assert_eq!(answered(&alone), Some("application-time"));
    // ... but after a complaint question it is about the complaint.
    for follow_up in [
        "how long does that take?",
        "and how long?",
        "how long does it take?",
    ] {
        let (r, t) = after("How do I complain?", follow_up);
        assert_eq!(answered(&t), Some("complaints"), "{follow_up}: {t:?}");
        assert!(r.text.contains("8 weeks"), "{}", r.text);
        assert!(r.text.contains("Financial Ombudsman Service"));
    }
}

#[test]
fn how_long_after_a_data_question_answers_the_privacy_article() {
    for (first, follow_up) in [
        ("What data do you keep about me?", "and how long?"),
        (
            "What data do you keep about me?",
            "how long do you keep it?",
        ),
        ("do you store this chat", "for how long?"),
    ] {
        let (r, t) = after(first, follow_up);
        assert_eq!(answered(&t), Some("privacy"), "{follow_up}: {t:?}");
        assert!(r.text.contains("how long we keep it"), "{}", r.text);
    }
}

#[test]
fn unrelated_out_of_scope_follow_up_still_hands_off() {
    for first in [
        "How do I complain?",
        "Who can apply?",
        "What data do you keep about me?",
    ] {
        for follow_up in [
            "what's the weather in Paris",
            "what about the weather?",
            "and can you tell me a joke?",
        ] {
            let (r, t) = after(first, follow_up);
            assert!(r.handoff, "{first} / {follow_up}: {t:?}");
            assert_eq!(
                t.outcome,
                Outcome::Handoff { out_of_scope: true },
                "{first} / {follow_up}"
            );
        }
    }
}

#[test]
fn referring_follow_up_after_a_handoff_does_not_invent_context() {
    let e = sample();
    for first in ["tell me a joke", "zqxj wibble blah"] {
        let (r1, t1) = ask(e, first, &[]);
        assert!(r1.handoff, "{first}");
        for follow_up in ["what about that?", "and what about it?"] {
            let (r, t) = ask(e, follow_up, std::slice::from_ref(&t1));
            assert!(r.handoff, "{first} / {follow_up}: {t:?}");
            assert_eq!(
                t.outcome,
                Outcome::Handoff {
                    out_of_scope: false
                },
                "{first} / {follow_up}"
            );
            // Still the repeated-handoff reply: contact first.
            assert!(r.text.starts_with("It looks like I can't help"));
        }
    }
}

#[test]
fn message_that_only_points_back_is_not_guessed_without_context() {
    let e = sample();
    for q in ["what about that?", "and then?", "why?"] {
        let (r, t) = ask(e, q, &[]);
        assert!(r.handoff, "{q}: {t:?}");
        assert_eq!(
            t.outcome,
            Outcome::Handoff {
                out_of_scope: false
            },
            "{q}"
        );
    }
    // With an answered topic it is read in context.
    let (_, t) = after("Who can apply?", "what about those?");
    assert_eq!(answered(&t), Some("who-can-apply"), "{t:?}");
}

#[test]
fn a_bare_yes_or_no_is_not_understood_rather_than_answered_again() {
    let e = sample();
    for bare in ["yes", "no", "please", "yes please", "is it ok"] {
        for first in ["Who can apply?", "How much does it cost?", "hello"] {
            let (r1, t1) = ask(e, first, &[]);
            assert!(answered(&t1).is_some(), "{first}: {t1:?}");
            let (r, t) = ask(e, bare, std::slice::from_ref(&t1));
            assert_eq!(
                t.outcome,
                Outcome::Handoff {
                    out_of_scope: false
                },
                "{first} / {bare}"
            );
            assert_ne!(r.text, r1.text, "{first} / {bare}: the answer repeated");
            assert!(r.text.contains("not sure I understood"), "{}", r.text);
        }
        let (_, alone) = ask(e, bare, &[]);
        assert_eq!(answered(&alone), None, "{bare}: {alone:?}");
    }
}

#[test]
fn ok_after_an_answer_is_thanked_by_the_article_whose_questions_say_ok() {
    for first in ["Who can apply?", "How much does it cost?"] {
        let (_, t) = after(first, "ok");
        assert_eq!(answered(&t), Some("thanks"), "{first}: {t:?}");
    }
}

#[test]
fn referring_follow_up_that_names_another_topic_switches_topic() {
    for (first, follow_up, id) in [
        (
            "Who can apply?",
            "how long does it take?",
            "application-time",
        ),
        ("Who can apply?", "how much does it cost?", "cost"),
        (
            "Who can apply?",
            "and how do repayments work?",
            "repayments",
        ),
        (
            "How much does it cost?",
            "what about early repayment?",
            "repayments",
        ),
        (
            "How much does it cost?",
            "how do I apply for it?",
            "what-you-need",
        ),
        (
            "how long does an application take",
            "what do I need for it?",
            "what-you-need",
        ),
    ] {
        let (_, t) = after(first, follow_up);
        assert_eq!(answered(&t), Some(id), "{first} / {follow_up}: {t:?}");
    }
}

#[test]
fn follow_up_topic_persists_over_several_turns() {
    let e = sample();
    let (_, t1) = ask(e, "How do I complain?", &[]);
    let (_, t2) = ask(e, "how long does that take?", std::slice::from_ref(&t1));
    assert_eq!(answered(&t2), Some("complaints"));
    // The topic is still the complaint, not "how long does that take".
    let (_, t3) = ask(e, "and how long does it take?", &[t1, t2]);
    assert_eq!(answered(&t3), Some("complaints"), "{t3:?}");
}

#[test]
fn chosen_suggestion_resolves_directly_after_an_answer() {
    let e = sample();
    let (r1, t1) = ask(e, "What data do you keep about me?", &[]);
    assert_eq!(answered(&t1), Some("privacy"));
    for s in &r1.suggestions {
        let (_, t) = ask(e, s, std::slice::from_ref(&t1));
        let want = KnowledgeBase::sample()
            .articles()
            .iter()
            .find(|a| &a.title == s)
            .map(|a| a.id.clone());
        assert_eq!(answered(&t).map(str::to_string), want, "{s}");
    }
}

#[test]
fn a_turn_keeps_at_most_the_stored_bytes_of_a_message_cut_at_a_character() {
    let long = format!("how do i complain {}", "é".repeat(600));
    let (_, turn) = ask(sample(), &long, &[]);
    assert!(
        turn.message.len() <= STORED_MESSAGE_BYTES,
        "{}",
        turn.message.len()
    );
    assert!(turn.message.starts_with("how do i complain"));
    let (_, short) = ask(sample(), "How do I complain?", &[]);
    assert_eq!(short.message, "how do i complain");
}

/// The duty of care, through `Engine::reply` with the sample knowledge base.
mod care;
/// The out-of-scope rule: fitted or given thresholds.
mod scope;
