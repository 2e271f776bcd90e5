//! The prompts as they were hard-coded before prompts became data, kept (test builds only) as
//! the golden text the embedded default set must reproduce byte for byte.

/// File localization: the issue and the repository structure; at most `n` paths in a fence.
pub fn localization(problem_statement: &str, structure: &str, n: usize) -> String {
    format!(
        "Read the GitHub issue and the repository structure below, and list the files that would have to be \
looked at or edited to resolve the issue.

### GitHub Problem Description ###
{problem_statement}

###

### Repository Structure ###
{structure}

###

Give full paths only, at most {n} files, one per line, from the most to the least important, \
inside a ``` block. For example:

```
path/to/most_important.py
path/to/second.py
path/to/third.py
```"
    )
    .trim()
    .to_owned()
}

/// Repair: the issue and the full contents of the localized files; SEARCH/REPLACE edits.
pub fn repair(problem_statement: &str, content: &str) -> String {
    format!(
        "We are looking at an issue in a repository. The issue, and the contents of files that may be related, follow.

--- BEGIN ISSUE ---
{problem_statement}
--- END ISSUE ---

Below are some code segments, each from a relevant file. One or more of these files may contain bugs.

--- BEGIN FILE ---
```
{content}
```
--- END FILE ---

First find the cause of the bug from the issue, then write *SEARCH/REPLACE* edits that fix it.

Every *SEARCH/REPLACE* edit has this form:
1. The file path, after `### `
2. The start of the search block: <<<<<<< SEARCH
3. A contiguous run of lines to find in the existing file
4. The divider: =======
5. The lines to put in their place
6. The end of the replace block: >>>>>>> REPLACE

For example:

```python
### mathweb/flask/app.py
<<<<<<< SEARCH
from flask import Flask
=======
import math
from flask import Flask
>>>>>>> REPLACE
```

Indentation matters: to add the line `        print(x)`, write it with all its leading spaces.
Put each *SEARCH/REPLACE* edit in its own ```python ... ``` block."
    )
    .trim()
    .to_owned()
}

/// Test-file prediction: the issue and the test files of the repository; one path.
pub fn test_file(problem_statement: &str, structure: &str) -> String {
    format!(
        "Read the GitHub issue and the list of test files below, and name the one existing test file whose tests \
are closest to the behaviour the issue describes.

### GitHub Problem Description ###
{problem_statement}

###

### Test Files ###
{structure}

###

Give the full path of one file inside a ``` block, for example:

```
tests/test_module.py
```"
    )
    .trim()
    .to_owned()
}

/// Reproduction test: the issue and (when predicted) an existing test file to learn from.
pub fn reproduction_test(problem_statement: &str, test_file: Option<(&str, &str)>) -> String {
    let context = match test_file {
        Some((path, content)) => format!(
            "\nHere is an existing test file of the repository, `{path}`, to show how the code is imported and used:\n\n```python\n{content}\n```\n"
        ),
        None => String::new(),
    };
    format!(
        "We are looking at an issue in a repository:

--- BEGIN ISSUE ---
{problem_statement}
--- END ISSUE ---
{context}
Write one complete, standalone Python script that reproduces the issue. It must:
1. import everything it needs;
2. run the code the issue is about;
3. print \"Issue reproduced\" if the behaviour described in the issue happens;
4. print \"Issue resolved\" if the code behaves as it should once the issue is fixed;
5. print \"Other issues\" if something else goes wrong (for example an unexpected exception).

For example, for an issue about `sum` of an empty list:

```python
from mylib import total

def test_total_of_empty_list():
    try:
        result = total([])
    except Exception:
        print(\"Other issues\")
        return
    if result == 0:
        print(\"Issue resolved\")
    else:
        print(\"Issue reproduced\")

test_total_of_empty_list()
```

Answer with the script in a single ```python ... ``` block."
    )
    .trim()
    .to_owned()
}

/// Regression-test filter: which passing tests may legitimately change behaviour with the fix.
pub fn regression_filter(problem_statement: &str, tests: &[String]) -> String {
    let list = tests.join("\n");
    format!(
        "We are looking at an issue in a repository:

--- BEGIN ISSUE ---
{problem_statement}
--- END ISSUE ---

These existing tests pass on the current code:

--- BEGIN TESTS ---
{list}
--- END TESTS ---

A fix for the issue may deliberately change behaviour that some of these tests check. List the tests \
(names exactly as above, one per line, inside a ``` block) that should NOT be run after the fix because \
of that. If every test should still pass, return an empty ``` block."
    )
    .trim()
    .to_owned()
}
