//! A [`Runner`] for tests: canned outputs by command line, a record of
//! every command run, and an optional failure.

use std::collections::HashMap;

use super::{Cmd, Output, ProvisionError, Runner};

/// Answers from a table; any other command succeeds with no output.
#[derive(Default)]
pub(crate) struct FakeRunner {
    canned: HashMap<String, Output>,
    /// Every command line run, in order (probes included).
    pub(crate) log: Vec<String>,
    /// Command line that fails, with its stderr.
    pub(crate) fail: Option<(String, String)>,
}

impl FakeRunner {
    /// `cmd` (as displayed) prints `stdout` and exits 0.
    pub(crate) fn ok(&mut self, cmd: &str, stdout: &str) -> &mut Self {
        self.canned.insert(
            cmd.to_owned(),
            Output {
                code: Some(0),
                stdout: stdout.to_owned(),
                stderr: String::new(),
            },
        );
        self
    }

    /// `cmd` exits 1 with `stderr`.
    pub(crate) fn err(&mut self, cmd: &str, stderr: &str) -> &mut Self {
        self.canned.insert(
            cmd.to_owned(),
            Output {
                code: Some(1),
                stdout: String::new(),
                stderr: stderr.to_owned(),
            },
        );
        self
    }

    /// The commands run that are not in the canned table (the changes).
    pub(crate) fn changes(&self) -> Vec<&str> {
        self.log
            .iter()
            .filter(|c| !self.canned.contains_key(*c))
            .map(String::as_str)
            .collect()
    }
}

impl Runner for FakeRunner {
    fn run(&mut self, cmd: &Cmd) -> Result<Output, ProvisionError> {
        let line = cmd.display();
        self.log.push(line.clone());
        if let Some((f, stderr)) = &self.fail {
            if *f == line {
                return Ok(Output {
                    code: Some(1),
                    stdout: String::new(),
                    stderr: stderr.clone(),
                });
            }
        }
        Ok(self.canned.get(&line).cloned().unwrap_or(Output {
            code: Some(0),
            ..Output::default()
        }))
    }
}
