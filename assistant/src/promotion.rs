//! Approved wording, checked against the UK's financial-promotion rules
//! (FCA CONC 3.5) as far as words can be (`check-kb` runs it):
//!
//! * an article whose body names an interest rate, an APR or a repayment
//!   amount must also give the representative example the rules require:
//!   a line starting with [`REPRESENTATIVE_EXAMPLE`] (shown to visitors, as
//!   the example must be). Without it the check fails;
//! * words that draw the regulator's attention ("guaranteed approval", "no
//!   credit checks", …: [`WARNING_PHRASES`]) are warned about.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::kb::KnowledgeBase;

/// The marker of a representative example: a body line starting with it.
pub const REPRESENTATIVE_EXAMPLE: &str = "Representative example:";

/// Phrases that promise what a lender cannot (warned, not failed).
pub const WARNING_PHRASES: &[&str] = &[
    "guaranteed approval",
    "guaranteed acceptance",
    "approval guaranteed",
    "no credit check",
    "instant approval",
    "100% approval",
    "everyone is approved",
    "bad credit ok",
    "no questions asked",
];

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Fails `check-kb`.
    Error,
    Warning,
}

/// One finding in one article.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub article: String,
    pub severity: Severity,
    pub message: String,
}

/// A rate (a percentage near "interest", "rate", "APR", "per annum") or an
/// APR named at all.
static RATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b\d+(?:\.\d+)?\s?%[^.\n]{0,40}\b(?:interest|rate|apr|a\.p\.r|per annum|p\.a)\b|\b(?:interest|rate|apr)\b[^.\n]{0,40}\b\d+(?:\.\d+)?\s?%|\bAPR\b").expect("a valid pattern")
});

/// An amount of money in a sentence about repaying or the cost of credit.
static AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)£\s?\d[\d,]*(?:\.\d+)?[^.\n]{0,60}\b(?:repay\w*|instal\w*|per month|a month|monthly|interest|total (?:cost|amount payable))\b|\b(?:repay\w*|instal\w*|monthly|interest|total (?:cost|amount payable))\b[^.\n]{0,60}£\s?\d").expect("a valid pattern")
});

/// Every finding in `kb`'s articles.
pub fn check_promotions(kb: &KnowledgeBase) -> Vec<Finding> {
    let mut findings = Vec::new();
    for article in kb.articles() {
        let body = &article.body;
        let has_example = body
            .lines()
            .any(|line| line.trim_start().starts_with(REPRESENTATIVE_EXAMPLE));
        let names = if RATE.is_match(body) {
            Some("an interest rate or APR")
        } else if AMOUNT.is_match(body) {
            Some("a repayment amount or cost of credit")
        } else {
            None
        };
        if let Some(what) = names
            && !has_example
        {
            findings.push(Finding {
                article: article.id.clone(),
                severity: Severity::Error,
                message: format!(
                    "names {what} without a representative example: add a line starting \"{REPRESENTATIVE_EXAMPLE}\" (UK financial-promotion rules, CONC 3.5)"
                ),
            });
        }
        let lower = body.to_lowercase();
        for phrase in WARNING_PHRASES {
            if lower.contains(phrase) {
                findings.push(Finding {
                    article: article.id.clone(),
                    severity: Severity::Warning,
                    message: format!("says \"{phrase}\", a claim that draws the FCA's attention"),
                });
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kb::Article;

    fn kb(bodies: &[&str]) -> KnowledgeBase {
        let articles: Vec<Article> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| Article {
                id: format!("a{i}"),
                title: format!("Article {i}"),
                questions: vec!["a question".into()],
                suggestions: vec![],
                links: vec![],
                handoff: false,
                body: (*body).into(),
            })
            .collect();
        let files: Vec<String> = articles.iter().map(|a| a.id.clone()).collect();
        KnowledgeBase::from_articles(articles, &files).unwrap()
    }

    fn errors(bodies: &[&str]) -> Vec<String> {
        check_promotions(&kb(bodies))
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.article)
            .collect()
    }

    #[test]
    fn a_rate_apr_or_repayment_amount_needs_a_representative_example() {
        let failing = [
            "Our loans start at 6.9% interest a year.",
            "Rates from 7% p.a. for established businesses.",
            "The interest rate is typically 9.5 %.",
            "Typical APR shown on application.",
            "Repay from £250 per month over three years.",
            "Monthly repayments start at £1,200.",
        ];
        assert_eq!(errors(&failing).len(), failing.len());
        let fine = [
            "Our loans start at 6.9% interest a year.\nRepresentative example: borrowing £25,000 over 3 years at 6.9% a year fixed; 36 monthly repayments of £771; total amount payable £27,756; representative 12.4% APR.",
            "We lend to 80% of the businesses that apply.",
            "Borrow from £10,000 to £500,000.",
            "Repayments are taken by direct debit.",
            "Fees are shown in your offer.",
        ];
        assert!(errors(&fine).is_empty(), "{:?}", errors(&fine));
    }

    #[test]
    fn promises_of_approval_are_warned_about_not_failed() {
        let findings = check_promotions(&kb(&["Guaranteed approval and no credit checks!"]));
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert!(findings.iter().all(|f| f.severity == Severity::Warning));
    }

    #[test]
    fn the_sample_knowledge_base_passes() {
        let errors: Vec<Finding> = check_promotions(&KnowledgeBase::sample())
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
}
