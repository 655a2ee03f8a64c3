//! How a knowledge base is dealt into cross-validation folds: the one way
//! its questions and its out-of-scope examples are held out (item `i` to
//! fold `i mod folds`), and its articles left out whole.

use super::{Article, KnowledgeBase, dealt, held_out};

impl KnowledgeBase {
    /// The knowledge base fold `fold` of `folds` trains on: each article's
    /// questions but those dealt to that fold (question `i` to fold
    /// `i mod folds`; an article left with none keeps its title), and all
    /// else as it is.
    pub fn training_fold(&self, folds: usize, fold: usize) -> KnowledgeBase {
        let articles = self
            .articles
            .iter()
            .map(|a| {
                let mut kept: Vec<String> = held_out(a, folds, fold, false).cloned().collect();
                if kept.is_empty() {
                    kept.push(a.title.clone());
                }
                Article {
                    questions: kept,
                    ..a.clone()
                }
            })
            .collect();
        KnowledgeBase {
            articles,
            ..self.clone()
        }
    }

    /// [`KnowledgeBase::training_fold`] with the out-of-scope examples
    /// dealt to that fold ([`KnowledgeBase::out_of_scope_fold`]) held out
    /// too: what an engine that decides both trains on.
    pub fn question_fold(&self, folds: usize, fold: usize) -> KnowledgeBase {
        KnowledgeBase {
            out_of_scope: self
                .out_of_scope_fold(folds, fold, false)
                .cloned()
                .collect(),
            ..self.training_fold(folds, fold)
        }
    }

    /// [`KnowledgeBase::question_fold`] with the articles `left_out` (by
    /// index) taken out altogether: what an engine that never saw those
    /// articles trains on.
    pub fn leaving_out(&self, folds: usize, fold: usize, left_out: &[bool]) -> KnowledgeBase {
        let trained = self.question_fold(folds, fold);
        KnowledgeBase {
            articles: (trained.articles.into_iter().zip(left_out))
                .filter(|(_, out)| !**out)
                .map(|(a, _)| a)
                .collect(),
            ..trained
        }
    }

    /// The out-of-scope examples dealt to fold `fold` of `folds` (line `i`
    /// to fold `i mod folds`; `inside`), or to every other fold.
    pub fn out_of_scope_fold(
        &self,
        folds: usize,
        fold: usize,
        inside: bool,
    ) -> impl Iterator<Item = &String> {
        dealt(&self.out_of_scope, folds, fold, inside)
    }
}
