//! Voice-notification templates (spec §11.2): fixed text with `${…}` variables, approved by being
//! in the configuration (`developers[].templates`), filled with a request's `templateParas`.
//!
//! [`Template::parse`] is the only way to build one, so a template in hand is well formed: a
//! valid id, at most 900 bytes, only the four variable kinds, no `${DATE}` glued to a `${TIME}`.
//! [`Template::fill`] is spec §11.3 step 4: the count of values, then each value against its
//! variable. Its [`FilledTemplate`] is what TTS reads (`audio::playback`). Pure: a template's own
//! recording ([`TemplateAudio`]) is only named here; `audio` loads it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

/// Longest template id, in characters (spec §11.1 `templateId`: String(1-32)).
pub const MAX_ID_CHARS: usize = 32;
/// Longest template content, in UTF-8 bytes (spec §11.2).
pub const MAX_CONTENT_BYTES: usize = 900;
/// Longest variable value, in UTF-8 bytes (spec §11.2).
pub const MAX_VALUE_BYTES: usize = 32;

/// A variable of a template (spec §11.2); shown as written: `${TXT_8}`, `${DATE}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variable {
    /// `${TXT_n}`: 1 to n characters (Unicode scalar values), none of them `$`, `{` or `}`.
    Txt(usize),
    /// `${NUM_n}`: 1 to n ASCII digits.
    Num(usize),
    /// `${DATE}`: a real calendar date `YYYY/MM/DD`.
    Date,
    /// `${TIME}`: `HH:MM` or `HH:MM:SS`, hours 00-23, minutes and seconds 00-59.
    Time,
}

impl Variable {
    /// Whether `value` fits this variable (spec §11.2 and its Dialtone decision); a value that
    /// does not is `1012005` (`"<variable> of templateParas does not meet template."`).
    pub fn accepts(self, value: &str) -> bool {
        if value.len() > MAX_VALUE_BYTES {
            return false;
        }
        match self {
            Variable::Txt(n) => {
                let chars = value.chars().count();
                // The ban on `$`, `{`, `}` is borrowed from Huawei's contact-centre notification
                // API: a value must not smuggle in a variable.
                (1..=n).contains(&chars) && !value.contains(['$', '{', '}'])
            }
            Variable::Num(n) => {
                (1..=n).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
            }
            Variable::Date => date_parts(value).is_some(),
            Variable::Time => time_parts(value).is_some(),
        }
    }

    /// Parses the inside of `${…}`: `TXT_8`, `NUM_6`, `DATE`, `TIME`. `n` is a decimal from 1,
    /// without leading zeros.
    fn parse(name: &str) -> Option<Variable> {
        let width = |n: &str| {
            let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
            if !digits || n.starts_with('0') {
                return None;
            }
            n.parse::<usize>().ok()
        };
        match name {
            "DATE" => Some(Variable::Date),
            "TIME" => Some(Variable::Time),
            _ => {
                if let Some(n) = name.strip_prefix("TXT_") {
                    width(n).map(Variable::Txt)
                } else if let Some(n) = name.strip_prefix("NUM_") {
                    width(n).map(Variable::Num)
                } else {
                    None
                }
            }
        }
    }
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variable::Txt(n) => write!(f, "${{TXT_{n}}}"),
            Variable::Num(n) => write!(f, "${{NUM_{n}}}"),
            Variable::Date => f.write_str("${DATE}"),
            Variable::Time => f.write_str("${TIME}"),
        }
    }
}

impl Serialize for Variable {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `YYYY/MM/DD` of a real calendar date: (year, month, day).
pub fn date_parts(value: &str) -> Option<(u32, u32, u32)> {
    let b = value.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'/'
        && b[7] == b'/'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let (y, m, d) = (
        value[..4].parse().ok()?,
        value[5..7].parse().ok()?,
        value[8..].parse().ok()?,
    );
    chrono::NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)?;
    Some((y, m, d))
}

/// `HH:MM` or `HH:MM:SS` with hours 00-23 and minutes and seconds 00-59: (hours, minutes,
/// seconds if given).
pub fn time_parts(value: &str) -> Option<(u32, u32, Option<u32>)> {
    let b = value.as_bytes();
    let field = |i: usize, max: u32| -> Option<u32> {
        let pair = b.get(i..i + 2)?;
        if !pair.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v = u32::from(pair[0] - b'0') * 10 + u32::from(pair[1] - b'0');
        (v <= max).then_some(v)
    };
    match b.len() {
        5 if b[2] == b':' => Some((field(0, 23)?, field(3, 59)?, None)),
        8 if b[2] == b':' && b[5] == b':' => {
            Some((field(0, 23)?, field(3, 59)?, Some(field(6, 59)?)))
        }
        _ => None,
    }
}

/// A template's own recording (`{text, audio}` in the configuration): it replaces the TTS of the
/// fixed text, and the variables are spoken at the cuts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateAudio {
    /// The WAV file (any WAV Dialtone reads; converted to 8 kHz mono on load).
    pub path: PathBuf,
    /// Where in the recording each variable is spoken, in ms from its start, one per variable, in
    /// order. `None`: at the fixed text's proportional points (Dialtone decision, see
    /// `audio::templates`).
    pub cuts_ms: Option<Vec<u64>>,
}

/// Why a configured template is refused at start-up (the config error names the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTemplate {
    #[error("a template id is 1-32 characters A-Z, a-z, 0-9, _ or -")]
    Id,
    #[error("the content must not be empty")]
    Empty,
    #[error("the content is {0} bytes of UTF-8; at most 900")]
    TooLong(usize),
    #[error(
        "`{0}` is not a variable: use ${{TXT_n}} or ${{NUM_n}} (n from 1), ${{DATE}} or ${{TIME}}"
    )]
    Malformed(String),
    #[error("${{DATE}} followed by ${{TIME}} needs a comma between them")]
    DateTimeWithoutComma,
    #[error("cuts_ms has {got} cut(s) for {expected} variable(s)")]
    CutCount { expected: usize, got: usize },
    #[error("cuts_ms must not decrease")]
    CutOrder,
}

/// One part of a template, in order: fixed text or a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplatePart<'a> {
    Text(&'a str),
    Variable(Variable),
}

/// An approved template (spec §11.2): fixed text and variables, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    id: String,
    content: String,
    /// The fixed text around the variables: `texts[k]` comes before `variables[k]`, the last one
    /// after the last variable; always one more than `variables`, any of them may be empty.
    texts: Vec<String>,
    variables: Vec<Variable>,
    audio: Option<TemplateAudio>,
}

impl Template {
    /// Checks `id` and `content` and splits the content into text and variables.
    pub fn parse(id: &str, content: &str) -> Result<Template, InvalidTemplate> {
        let id_ok = (1..=MAX_ID_CHARS).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            return Err(InvalidTemplate::Id);
        }
        if content.is_empty() {
            return Err(InvalidTemplate::Empty);
        }
        if content.len() > MAX_CONTENT_BYTES {
            return Err(InvalidTemplate::TooLong(content.len()));
        }
        let mut texts = Vec::new();
        let mut variables = Vec::new();
        let mut rest = content;
        while let Some(at) = rest.find("${") {
            let after = &rest[at + 2..];
            let Some(end) = after.find('}') else {
                return Err(InvalidTemplate::Malformed(shorten(&rest[at..])));
            };
            let variable = Variable::parse(&after[..end])
                .ok_or_else(|| InvalidTemplate::Malformed(shorten(&rest[at..at + 3 + end])))?;
            texts.push(rest[..at].to_owned());
            variables.push(variable);
            rest = &after[end + 1..];
        }
        texts.push(rest.to_owned());
        // Spec §11.2: "A ${DATE} followed by a ${TIME} must be separated by a comma".
        for (k, pair) in variables.windows(2).enumerate() {
            if pair == [Variable::Date, Variable::Time] && !texts[k + 1].contains([',', '，']) {
                return Err(InvalidTemplate::DateTimeWithoutComma);
            }
        }
        Ok(Template {
            id: id.to_owned(),
            content: content.to_owned(),
            texts,
            variables,
            audio: None,
        })
    }

    /// The same template, its fixed text played from `audio` instead of TTS. Checks the cuts
    /// against the variables; the file itself is checked when the audio loads.
    pub fn with_audio(self, audio: TemplateAudio) -> Result<Template, InvalidTemplate> {
        if let Some(cuts) = &audio.cuts_ms {
            if cuts.len() != self.variables.len() {
                return Err(InvalidTemplate::CutCount {
                    expected: self.variables.len(),
                    got: cuts.len(),
                });
            }
            if cuts.windows(2).any(|w| w[0] > w[1]) {
                return Err(InvalidTemplate::CutOrder);
            }
        }
        Ok(Template {
            audio: Some(audio),
            ..self
        })
    }

    /// The template id (`tpl_bill`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The content as configured, `${…}` included.
    pub fn content(&self) -> &str {
        &self.content
    }

    /// The variables in order: `templateParas[i]` fills `variables()[i]`.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// The fixed texts around the variables: one more than [`Template::variables`], the k-th
    /// before the k-th variable; empty where two variables (or an end and a variable) touch.
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// Text and variables in order, empty texts left out.
    pub fn parts(&self) -> impl Iterator<Item = TemplatePart<'_>> {
        let texts = self.texts.iter().map(|t| TemplatePart::Text(t));
        let vars = self
            .variables
            .iter()
            .map(|&v| Some(TemplatePart::Variable(v)));
        texts
            .zip(vars.chain([None]))
            .flat_map(|(t, v)| [Some(t), v])
            .flatten()
            .filter(|p| *p != TemplatePart::Text(""))
    }

    /// The template's own recording of its fixed text, if configured.
    pub fn audio(&self) -> Option<&TemplateAudio> {
        self.audio.as_ref()
    }

    /// Makes a relative recording path relative to `base` (the configuration file's folder).
    pub(crate) fn resolve_audio_path(&mut self, base: &Path) {
        if let Some(audio) = self.audio.as_mut().filter(|a| a.path.is_relative()) {
            audio.path = base.join(&audio.path);
        }
    }

    /// Fills the variables with `params`, in order (spec §11.3 step 4). Errors:
    /// [`TemplateError::ParamCount`] (`1012004`) unless there is exactly one value per
    /// variable, else [`TemplateError::Param`] (`1012005`) for the first value that does not fit
    /// its variable.
    pub fn fill(&self, params: &[String]) -> Result<FilledTemplate, TemplateError> {
        if params.len() != self.variables.len() {
            return Err(TemplateError::ParamCount {
                expected: self.variables.len(),
                got: params.len(),
            });
        }
        if let Some((v, _)) = self
            .variables
            .iter()
            .zip(params)
            .find(|(v, p)| !v.accepts(p))
        {
            return Err(TemplateError::Param {
                variable: v.to_string(),
            });
        }
        let mut pieces = Vec::with_capacity(2 * params.len() + 1);
        let mut text = String::new();
        for (k, fixed) in self.texts.iter().enumerate() {
            text.push_str(fixed);
            pieces.push(FilledPiece::Fixed(fixed.clone()));
            if let (Some(&variable), Some(value)) = (self.variables.get(k), params.get(k)) {
                text.push_str(value);
                pieces.push(FilledPiece::Value {
                    variable,
                    value: value.clone(),
                });
            }
        }
        Ok(FilledTemplate {
            id: self.id.clone(),
            text,
            pieces,
            own_audio: self.audio.is_some(),
        })
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// Why `templateParas` do not fill a template (spec §11.3 step 4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `1012004`: not one value per variable.
    #[error("the template has {expected} variable(s), {got} value(s) were given")]
    ParamCount { expected: usize, got: usize },
    /// `1012005`: a value does not fit its variable, named as written (`${NUM_6}`).
    #[error("{variable} of templateParas does not meet template.")]
    Param { variable: String },
}

/// One piece of a filled template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilledPiece {
    /// Fixed text of the template (possibly empty).
    Fixed(String),
    /// A variable's value.
    Value { variable: Variable, value: String },
}

/// A template with its variables filled: what the callee hears, as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilledTemplate {
    id: String,
    text: String,
    pieces: Vec<FilledPiece>,
    own_audio: bool,
}

impl FilledTemplate {
    /// The template id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The whole text with the values in place (spec §11.2: it appears in full in the manifest).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The pieces in order: always `Fixed`, then `Value` and `Fixed` pairs, so the k-th `Fixed`
    /// is the template's k-th text (empty ones included) and the k-th `Value` its k-th variable.
    pub fn pieces(&self) -> &[FilledPiece] {
        &self.pieces
    }

    /// Whether the template has its own recording of the fixed text (`{text, audio}`).
    pub fn has_own_audio(&self) -> bool {
        self.own_audio
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BILL: &str = "尊敬的${TXT_8}，您本月账单${TXT_10}元已出，重听请按1，确认请按2。";

    fn t(content: &str) -> Template {
        Template::parse("t", content).unwrap()
    }

    fn fill(content: &str, params: &[&str]) -> Result<FilledTemplate, TemplateError> {
        let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        t(content).fill(&params)
    }

    fn bad(variable: &str) -> Result<FilledTemplate, TemplateError> {
        Err(TemplateError::Param {
            variable: variable.into(),
        })
    }

    #[test]
    fn the_spec_example_has_two_text_variables_between_three_texts() {
        let bill = Template::parse("tpl_bill", BILL).unwrap();
        assert_eq!(bill.variables(), [Variable::Txt(8), Variable::Txt(10)]);
        assert_eq!(
            bill.texts(),
            ["尊敬的", "，您本月账单", "元已出，重听请按1，确认请按2。"]
        );
        assert_eq!(bill.content(), BILL);
        assert_eq!(bill.id(), "tpl_bill");
        assert_eq!(bill.parts().count(), 5);
    }

    #[test]
    fn parts_leave_out_empty_texts_between_touching_variables() {
        let tpl = t("${NUM_4}${TXT_2}号");
        assert_eq!(tpl.texts(), ["", "", "号"]);
        assert_eq!(
            tpl.parts().collect::<Vec<_>>(),
            [
                TemplatePart::Variable(Variable::Num(4)),
                TemplatePart::Variable(Variable::Txt(2)),
                TemplatePart::Text("号")
            ]
        );
        assert_eq!(
            t("无变量").parts().collect::<Vec<_>>(),
            [TemplatePart::Text("无变量")]
        );
    }

    #[test]
    fn every_variable_kind_parses_and_displays_as_written() {
        let tpl = t("a${TXT_1}b${NUM_12}c${DATE}，${TIME}d");
        assert_eq!(
            tpl.variables(),
            [
                Variable::Txt(1),
                Variable::Num(12),
                Variable::Date,
                Variable::Time
            ]
        );
        let shown: Vec<String> = tpl.variables().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["${TXT_1}", "${NUM_12}", "${DATE}", "${TIME}"]);
        assert_eq!(serde_json::to_value(Variable::Num(6)).unwrap(), "${NUM_6}");
    }

    #[test]
    fn a_malformed_variable_is_refused_naming_it() {
        let e = |c: &str| Template::parse("t", c).unwrap_err();
        for (content, shown) in [
            ("您好${TXT_0}", "${TXT_0}"),
            ("您好${TXT_}", "${TXT_}"),
            ("您好${TXT_08}", "${TXT_08}"),
            ("您好${txt_8}", "${txt_8}"),
            ("您好${NUM}", "${NUM}"),
            ("您好${NUM_-1}", "${NUM_-1}"),
            ("您好${PRICE}", "${PRICE}"),
            ("您好${1}", "${1}"),
            ("您好${}", "${}"),
            ("您好${ DATE}", "${ DATE}"),
            (
                "您好${NUM_99999999999999999999999}",
                "${NUM_99999999999999999999999}",
            ),
            ("您好${TXT_8", "${TXT_8"),
            ("您好${TXT_${NUM_2}}", "${TXT_${NUM_2}"),
        ] {
            assert_eq!(
                e(content),
                InvalidTemplate::Malformed(shown.into()),
                "{content}"
            );
        }
        assert_eq!(
            e("x${DATE").to_string(),
            "`${DATE` is not a variable: use ${TXT_n} or ${NUM_n} (n from 1), ${DATE} or ${TIME}"
        );
        // A `$`, `{` or `}` that does not open `${` is text.
        assert_eq!(t("价格$5 {优惠}").variables(), []);
    }

    #[test]
    fn date_then_time_needs_a_comma_between_them() {
        let e = |c: &str| Template::parse("t", c).map(|_| ());
        assert_eq!(
            e("于${DATE}${TIME}到期"),
            Err(InvalidTemplate::DateTimeWithoutComma)
        );
        assert_eq!(
            e("于${DATE} ${TIME}到期"),
            Err(InvalidTemplate::DateTimeWithoutComma)
        );
        assert_eq!(e("于${DATE}，${TIME}到期"), Ok(()));
        assert_eq!(e("于${DATE}, ${TIME}到期"), Ok(()));
        // Only a date followed by a time: the other order, or something between, is fine.
        assert_eq!(e("于${TIME}${DATE}到期"), Ok(()));
        assert_eq!(e("于${DATE}${NUM_2}${TIME}到期"), Ok(()));
    }

    #[test]
    fn ids_are_1_to_32_of_letters_digits_underscore_and_hyphen() {
        for id in ["a", "tpl_bill", "TPL-2", &"x".repeat(32)] {
            assert!(Template::parse(id, "您好").is_ok(), "{id}");
        }
        for id in ["", "tpl bill", "tpl.bill", "模板", &"x".repeat(33)] {
            assert_eq!(
                Template::parse(id, "您好"),
                Err(InvalidTemplate::Id),
                "{id}"
            );
        }
    }

    #[test]
    fn content_is_1_to_900_bytes_of_utf8() {
        assert_eq!(Template::parse("t", ""), Err(InvalidTemplate::Empty));
        // 300 Chinese characters are 900 bytes: the limit exactly.
        assert!(Template::parse("t", &"您".repeat(300)).is_ok());
        assert_eq!(
            Template::parse("t", &format!("{}a", "您".repeat(300))),
            Err(InvalidTemplate::TooLong(901))
        );
    }

    #[test]
    fn fill_needs_exactly_one_value_per_variable() {
        assert_eq!(
            fill(BILL, &["张先生"]),
            Err(TemplateError::ParamCount {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            fill("您好", &["x"]),
            Err(TemplateError::ParamCount {
                expected: 0,
                got: 1
            })
        );
        assert!(fill("您好", &[]).is_ok());
    }

    #[test]
    fn fill_puts_the_values_in_place_between_the_texts() {
        let f = fill(BILL, &["张先生", "128.50"]).unwrap();
        assert_eq!(
            f.text(),
            "尊敬的张先生，您本月账单128.50元已出，重听请按1，确认请按2。"
        );
        assert_eq!(f.id(), "t");
        assert!(!f.has_own_audio());
        assert_eq!(
            f.pieces(),
            [
                FilledPiece::Fixed("尊敬的".into()),
                FilledPiece::Value {
                    variable: Variable::Txt(8),
                    value: "张先生".into()
                },
                FilledPiece::Fixed("，您本月账单".into()),
                FilledPiece::Value {
                    variable: Variable::Txt(10),
                    value: "128.50".into()
                },
                FilledPiece::Fixed("元已出，重听请按1，确认请按2。".into()),
            ]
        );
        let touching = fill("${NUM_2}${NUM_2}", &["1", "2"]).unwrap();
        assert_eq!(touching.pieces().len(), 5);
        assert_eq!(touching.pieces()[0], FilledPiece::Fixed(String::new()));
        assert_eq!(touching.text(), "12");
    }

    #[test]
    fn txt_counts_characters_not_bytes_and_refuses_empty_and_braces() {
        let c = "您好${TXT_3}";
        assert!(fill(c, &["张先生"]).is_ok(), "3 characters, 9 bytes");
        assert!(fill(c, &["a.5"]).is_ok(), "decimals are allowed");
        assert_eq!(fill(c, &["张先生们"]), bad("${TXT_3}"));
        assert_eq!(fill(c, &[""]), bad("${TXT_3}"));
        for v in ["$1", "a{", "}"] {
            assert_eq!(fill(c, &[v]), bad("${TXT_3}"), "{v}");
        }
    }

    #[test]
    fn every_value_is_at_most_32_bytes() {
        let c = "您好${TXT_20}";
        // 11 Chinese characters are 33 bytes: within TXT_20 but over the byte limit.
        assert_eq!(fill(c, &[&"您".repeat(11)]), bad("${TXT_20}"));
        assert!(fill(c, &[&"您".repeat(10)]).is_ok());
        assert_eq!(fill("${NUM_40}", &[&"1".repeat(33)]), bad("${NUM_40}"));
        assert!(fill("${NUM_40}", &[&"1".repeat(32)]).is_ok());
    }

    #[test]
    fn num_takes_1_to_n_ascii_digits() {
        let c = "验证码${NUM_6}";
        for ok in ["0", "123456", "000001"] {
            assert!(fill(c, &[ok]).is_ok(), "{ok}");
        }
        for no in ["", "1234567", "12a4", "12.5", "-12", " 12", "１２"] {
            assert_eq!(fill(c, &[no]), bad("${NUM_6}"), "{no}");
        }
    }

    #[test]
    fn date_is_a_real_calendar_date_written_yyyy_mm_dd() {
        let c = "日期${DATE}";
        for ok in ["2017/07/16", "2024/02/29", "2000/02/29", "1999/12/31"] {
            assert!(fill(c, &[ok]).is_ok(), "{ok}");
        }
        for no in [
            "2023/02/29",
            "1900/02/29",
            "2017/13/01",
            "2017/00/10",
            "2017/04/31",
            "2017/07/00",
            "2017-07-16",
            "2017/7/16",
            "17/07/16",
            "2017/07/16 ",
            "２017/07/16",
        ] {
            assert_eq!(fill(c, &[no]), bad("${DATE}"), "{no}");
        }
        assert_eq!(date_parts("2017/07/16"), Some((2017, 7, 16)));
    }

    #[test]
    fn time_is_hh_mm_or_hh_mm_ss_in_range() {
        let c = "时间${TIME}";
        for ok in [
            "00:00", "14:30", "23:59", "14:30:30", "23:59:59", "00:00:00",
        ] {
            assert!(fill(c, &[ok]).is_ok(), "{ok}");
        }
        for no in [
            "24:00", "12:60", "12:30:60", "9:30", "09:3", "0930", "09:30:", "09-30", "09:30:5", "",
        ] {
            assert_eq!(fill(c, &[no]), bad("${TIME}"), "{no}");
        }
        assert_eq!(time_parts("14:05"), Some((14, 5, None)));
        assert_eq!(time_parts("14:05:09"), Some((14, 5, Some(9))));
    }

    #[test]
    fn the_first_value_that_does_not_fit_is_named() {
        let c = "${NUM_2}${TXT_2}${NUM_6}";
        assert_eq!(fill(c, &["1", "abc", "x"]), bad("${TXT_2}"));
        assert_eq!(
            fill(c, &["1", "ab", "x"]).unwrap_err().to_string(),
            "${NUM_6} of templateParas does not meet template."
        );
    }

    #[test]
    fn cuts_must_be_one_per_variable_and_not_decrease() {
        let audio = |cuts: Option<Vec<u64>>| TemplateAudio {
            path: "bill.wav".into(),
            cuts_ms: cuts,
        };
        let bill = || Template::parse("tpl_bill", BILL).unwrap();
        assert_eq!(
            bill().with_audio(audio(Some(vec![100]))),
            Err(InvalidTemplate::CutCount {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            bill().with_audio(audio(Some(vec![900, 100]))),
            Err(InvalidTemplate::CutOrder)
        );
        let with = bill().with_audio(audio(Some(vec![100, 100]))).unwrap();
        assert_eq!(with.audio().unwrap().cuts_ms, Some(vec![100, 100]));
        let filled = with.fill(&["a".into(), "b".into()]).unwrap();
        assert!(filled.has_own_audio());
        assert!(bill().with_audio(audio(None)).is_ok());
    }
}
