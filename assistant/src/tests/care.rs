//! The duty of care, through `Engine::reply` with the sample knowledge base.

use super::*;

#[test]
fn a_complaint_gets_the_complaints_article_and_a_person() {
    let answer = sample().reply(
        &m("I've been waiting weeks and nobody answers my emails, this is a disgrace"),
        &[],
    );
    assert!(answer.signals.complaint, "{:?}", answer.signals);
    assert_eq!(answered(&answer.turn), Some(COMPLAINTS_ARTICLE_ID));
    assert!(answer.reply.handoff);
    assert!(answer.turn.complaint);
    assert_eq!(answer.article.unwrap().id, COMPLAINTS_ARTICLE_ID);
}

#[test]
fn a_cue_gets_the_support_article_and_a_person_first() {
    let answer = sample().reply(
        &m("my husband died last month and I can't cope with the repayments"),
        &[],
    );
    assert!(answer.signals.care.is_some(), "{:?}", answer.signals);
    assert_eq!(answered(&answer.turn), Some(SUPPORT_ARTICLE_ID));
    assert!(answer.reply.handoff);
    assert!(
        answer.reply.text.contains(&contact()),
        "the contact, at once"
    );
}

#[test]
fn questions_about_complaints_and_repayments_are_ordinary() {
    for (question, article) in [
        ("how do I make a complaint?", COMPLAINTS_ARTICLE_ID),
        ("when is my repayment due?", "repayments"),
    ] {
        let answer = sample().reply(&m(question), &[]);
        assert_eq!(answer.signals, Signals::default(), "{question}");
        assert_eq!(answered(&answer.turn), Some(article), "{question}");
        assert!(!answer.reply.handoff, "{question}");
    }
}

#[test]
fn after_a_complaint_what_the_engine_is_unsure_of_goes_to_a_person() {
    let first = sample().reply(
        &m("this is ridiculous, I've waited three weeks for a decision"),
        &[],
    );
    assert!(first.turn.complaint);
    let (reply, turn) = ask(sample(), "hmm ok then what", &[first.turn]);
    assert!(matches!(
        turn.outcome,
        Outcome::Handoff { .. } | Outcome::Answered { .. }
    ));
    assert!(reply.handoff, "{reply:?}");
}

/// The sample knowledge base as a folder, with `care/` files.
fn sample_folder_with_care(name: &str, care: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("care-kb-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("care")).unwrap();
    for (file, text) in crate::kb::SAMPLE_FILES {
        std::fs::write(dir.join(file), text).unwrap();
    }
    for (file, text) in care {
        std::fs::write(dir.join("care").join(file), text).unwrap();
    }
    dir
}

#[test]
fn an_authors_examples_are_learned_beside_the_built_in_ones() {
    // A request for a person is not a cue the built-in sets rule out;
    // an author who wants it answered as a plain question says so.
    let asked = "I need to speak to someone";
    let flagged = |engine: &Engine| {
        let answer = engine.reply(&m(asked), &[]);
        answer.signals.care.is_some() || answer.signals.complaint
    };
    let mut rows = String::from("text,label\n");
    for text in [
        asked,
        "I need to speak to someone about my loan",
        "I need to talk to somebody on your team",
        "can I speak to someone",
        "I'd like to speak to a member of staff",
        "please can I talk to someone",
    ] {
        rows.push_str(&format!("{text},none\n"));
    }
    let dir = sample_folder_with_care(
        "none",
        &[("vulnerability.csv", &rows), ("complaint.csv", &rows)],
    );
    let kb = KnowledgeBase::load_dir(&dir).unwrap();
    let builtin = CareExamples::builtin();
    assert_eq!(
        kb.care_training().vulnerability.len(),
        builtin.vulnerability.len() + 6
    );
    let engine = Engine::new(kb, Some(test_encoder()));
    assert!(
        flagged(sample()),
        "the built-in sets alone raise it (else this test proves nothing)"
    );
    assert!(!flagged(&engine), "the author's examples are learned");
    // A malformed file names itself and the line at load.
    let bad = sample_folder_with_care("bad", &[("complaint.csv", "text,label\nfine,angry\n")]);
    let err = KnowledgeBase::load_dir(&bad).unwrap_err().to_string();
    assert!(
        err.contains("complaint.csv, line 2") && err.contains("angry"),
        "{err}"
    );
    let _ = (std::fs::remove_dir_all(dir), std::fs::remove_dir_all(bad));
}

/// The detectors on the held-out set (`tests/data/care_heldout.csv`),
/// written apart from their training examples and never tuned against
/// (so it prints only the totals, never the messages it got wrong);
/// BENCHMARKS.md reports these figures (the aims: complaint recall
/// at least 0.85, vulnerability recall at least 0.90, at most 3 % of
/// ordinary questions flagged).
#[test]
fn on_the_held_out_set_the_signals_meet_their_aims() {
    let path = crate::test_support::repository_root().join("tests/data/care_heldout.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let model = sample().care();
    let encoder = test_encoder();
    let (mut complaints, mut complaints_found) = (0usize, 0usize);
    let (mut cues, mut cues_found, mut cues_right_category) = (0usize, 0usize, 0usize);
    let (mut ordinary, mut ordinary_flagged) = (0usize, 0usize);
    for record in reader.records() {
        let record = record.unwrap();
        let (text, signal) = (&record[0], &record[1]);
        let norm = normalise(text);
        let signals = model.signals(&norm, Some(&encoder.embed(&norm)));
        match signal {
            "complaint" => {
                complaints += 1;
                complaints_found += usize::from(signals.complaint);
            }
            "ordinary" => {
                ordinary += 1;
                ordinary_flagged += usize::from(signals.complaint || signals.care.is_some());
            }
            category => {
                cues += 1;
                cues_found += usize::from(signals.care.is_some());
                cues_right_category +=
                    usize::from(signals.care.map(CareCategory::as_str) == Some(category));
            }
        }
    }
    let ratio = |a: usize, b: usize| a as f64 / b as f64;
    let report = serde_json::json!({
        "complaints": complaints, "complaint_recall": ratio(complaints_found, complaints),
        "cues": cues, "vulnerability_recall": ratio(cues_found, cues),
        "category_accuracy": ratio(cues_right_category, cues),
        "ordinary": ordinary, "ordinary_flagged": ratio(ordinary_flagged, ordinary),
    });
    println!("{report}");
    assert!(
        complaints >= 100 && cues >= 120 && ordinary >= 300,
        "{report}"
    );
    assert!(ratio(complaints_found, complaints) >= 0.85, "{report}");
    assert!(ratio(cues_found, cues) >= 0.90, "{report}");
    assert!(ratio(ordinary_flagged, ordinary) <= 0.03, "{report}");
}
