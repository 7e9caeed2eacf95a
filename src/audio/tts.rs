//! Template TTS (spec §11.2, "TTS"): text → the clips that say it, with pauses. Like the
//! verification code, it is built from prerecorded clips, offline and deterministic.
//!
//! How a text is read (the choices beyond the spec are in `docs/decisions.md`, "Templates and
//! TTS"):
//! - a Chinese character: its pinyin from the `pinyin` crate, then that syllable's clip
//!   ([`Syllables`]). The crate gives each character its most common reading, without word
//!   context, so a polyphone in an unusual word is misread (重听 is read `zhong4 ting1`, not
//!   `chong2 ting1`);
//! - an ASCII digit: the digit clip of the TTS language's voice, one digit at a time (spec: "a run
//!   of digits is read digit by digit"). A `.` between two digits is a decimal point: zh says 点;
//!   the English clips have no "point", so en pauses;
//! - a Latin letter: its name as Mandarin speakers say it (A `ei1`, B `bi4`, … W `da2 bu4
//!   liu2`), from the syllable clips, in either language: no bundled voice has letter clips;
//! - punctuation and white space: a pause, [`PAUSE_MS`], or [`SENTENCE_PAUSE_MS`] after a sentence
//!   (`。！？；…` and their ASCII forms). Runs of pauses count once;
//! - anything else (emoji, kana, symbols, a character the crate has no reading for): nothing. It
//!   stays in the manifest's text.
//!
//! Fullwidth forms of ASCII (`１`, `Ａ`, `．`) are read as the ASCII character. `${DATE}` and
//! `${TIME}` values are read as a date and a time, see [`Speaker::value`]. A `${NUM_n}` value is
//! digits, so digit by digit; a `${TXT_n}` value is read as any text.

use std::sync::Arc;

use pinyin::ToPinyin;
use serde::{Deserialize, Serialize};

use super::syllables::Syllables;
use super::{AudioError, AudioLibrary, Clip, Voice};
use crate::call::template::{date_parts, time_parts, Variable};

/// The pause for a comma, other punctuation and white space.
pub const PAUSE_MS: u64 = 150;
/// The pause after a sentence (`。！？；…`, `.!?;`), and between a voice file and a template.
pub const SENTENCE_PAUSE_MS: u64 = 300;

/// `tts.language` (spec §15): which voice reads digits, dates and times. Chinese characters are
/// always read from the Mandarin syllables, and letters from their Mandarin names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TtsLanguage {
    /// Mandarin (`voices/zh`): the default.
    #[default]
    Zh,
    /// English (`voices/en`).
    En,
}

impl TtsLanguage {
    /// The bundled voice whose digit clips this language uses.
    pub fn voice_tag(self) -> &'static str {
        match self {
            TtsLanguage::Zh => "zh",
            TtsLanguage::En => "en",
        }
    }
}

/// `[tts]` in the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TtsSettings {
    pub language: TtsLanguage,
}

/// What TTS makes of a text: clips, each with the text it reads, and pauses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spoken {
    /// A clip and what of the text it says: `张` for `zh/syllables/zhang1.wav`, `1` for
    /// `zh/1.wav`, `年` in a date.
    Clip { clip: Arc<Clip>, reads: String },
    /// Silence of this many ms.
    Pause(u64),
}

/// Latin letters as Mandarin speakers name them, spelled in syllables of the clip set.
const LETTERS: [&[&str]; 26] = [
    &["ei1"],
    &["bi4"],
    &["xi1"],
    &["di4"],
    &["yi4"],
    &["ai2", "fu1"],
    &["ji4"],
    &["ei1", "qi1"],
    &["ai4"],
    &["jie4"],
    &["kai1"],
    &["ai2", "le4"],
    &["ai2", "mu3"],
    &["en1"],
    &["ou1"],
    &["pi1"],
    &["qiu1"],
    &["a4", "er3"],
    &["ai2", "si1"],
    &["ti1"],
    &["you1"],
    &["wei1"],
    &["da2", "bu4", "liu2"],
    &["ai4", "ke4", "si1"],
    &["wai4"],
    &["zei2"],
];

/// The Chinese numerals 0-9, for dates and times.
const HANZI_DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// Reads texts and values in one TTS language with the clips of one library.
pub struct Speaker<'a> {
    syllables: &'a Syllables,
    digits: &'a Voice,
    language: TtsLanguage,
}

impl<'a> Speaker<'a> {
    /// A speaker for `language`; fails only if the library lacks that bundled voice.
    pub fn new(lib: &'a AudioLibrary, language: TtsLanguage) -> Result<Speaker<'a>, AudioError> {
        let tag = language.voice_tag();
        let digits = lib
            .voices
            .get(tag)
            .ok_or_else(|| AudioError::UnknownVoice(tag.to_owned()))?;
        Ok(Speaker {
            syllables: &lib.syllables,
            digits,
            language,
        })
    }

    /// Reads `text` as the module docs describe, appending to `out`.
    pub fn text(&self, text: &str, out: &mut Vec<Spoken>) {
        let chars: Vec<(char, char)> = text.chars().map(|c| (c, ascii_form(c))).collect();
        let digit_at = |i: Option<usize>| {
            i.and_then(|i| chars.get(i))
                .is_some_and(|&(_, c)| c.is_ascii_digit())
        };
        for (i, &(original, c)) in chars.iter().enumerate() {
            let reads = || original.to_string();
            if c.is_ascii_digit() {
                self.digit(c, reads(), out);
            } else if c == '.' && digit_at(i.checked_sub(1)) && digit_at(Some(i + 1)) {
                match self.language {
                    TtsLanguage::Zh => self.hanzi_reading('点', reads(), out),
                    TtsLanguage::En => out.push(Spoken::Pause(PAUSE_MS)),
                }
            } else if c.is_ascii_alphabetic() {
                let index = usize::from(c.to_ascii_uppercase() as u8 - b'A');
                for syllable in LETTERS[index] {
                    self.syllable(syllable, reads(), out);
                }
            } else if let Some(p) = c.to_pinyin() {
                self.syllable(p.with_tone_num_end(), reads(), out);
            } else if let Some(ms) = pause(c) {
                out.push(Spoken::Pause(ms));
            }
            // Anything else is not spoken (spec §11.2); it stays in the manifest's text.
        }
    }

    /// Reads a variable's value: `${DATE}` as a date, `${TIME}` as a time, anything else as
    /// text. A date or time that does not parse (`fill` lets none through) is read as text.
    ///
    /// zh: `2017/07/16` is 二零一七年七月十六日 (the year digit by digit, month and day as
    /// numbers); `14:30` is 十四点三十分, `14:00` 十四点整, `02:05` 两点零五分, `14:30:08`
    /// 十四点三十分零八秒, all from the syllable clips. en has only digit clips: `2017/07/16` is
    /// "two zero one seven, seven, one six" and `14:30` "one four, three zero", each group after
    /// the first following a [`PAUSE_MS`] pause; month, day and hour lose a leading zero.
    pub fn value(&self, variable: Variable, value: &str, out: &mut Vec<Spoken>) {
        match (variable, self.language) {
            (Variable::Date, TtsLanguage::Zh) => {
                if let Some((_, m, d)) = date_parts(value) {
                    let year: String = value[..4]
                        .bytes()
                        .map(|b| HANZI_DIGITS[usize::from(b - b'0')])
                        .collect();
                    let words = format!("{year}年{}月{}日", zh_number(m), zh_number(d));
                    return self.hanzi(&words, out);
                }
            }
            (Variable::Time, TtsLanguage::Zh) => {
                if let Some((h, m, s)) = time_parts(value) {
                    let hour = if h == 2 { "两".into() } else { zh_number(h) };
                    let words = match s {
                        None if m == 0 => format!("{hour}点整"),
                        None => format!("{hour}点{}分", zh_minutes(m)),
                        Some(s) => format!("{hour}点{}分{}秒", zh_minutes(m), zh_minutes(s)),
                    };
                    return self.hanzi(&words, out);
                }
            }
            (Variable::Date, TtsLanguage::En) => {
                if date_parts(value).is_some() {
                    let groups = [&value[..4], unpad(&value[5..7]), unpad(&value[8..])];
                    return self.digit_groups(&groups, out);
                }
            }
            (Variable::Time, TtsLanguage::En) => {
                if time_parts(value).is_some() {
                    let mut groups = vec![unpad(&value[..2]), &value[3..5]];
                    groups.extend(value.get(6..8));
                    return self.digit_groups(&groups, out);
                }
            }
            (Variable::Txt(_) | Variable::Num(_), _) => {}
        }
        self.text(value, out);
    }

    fn digit(&self, c: char, reads: String, out: &mut Vec<Spoken>) {
        if let Some(clip) = self.digits.digit(c as u8) {
            out.push(Spoken::Clip {
                clip: clip.clone(),
                reads,
            });
        }
    }

    fn digit_groups(&self, groups: &[&str], out: &mut Vec<Spoken>) {
        for (i, group) in groups.iter().enumerate() {
            if i > 0 {
                out.push(Spoken::Pause(PAUSE_MS));
            }
            for c in group.chars() {
                self.digit(c, c.to_string(), out);
            }
        }
    }

    /// Chinese words Dialtone made up (a date, a time): each character read from its syllable
    /// and reading as itself.
    fn hanzi(&self, words: &str, out: &mut Vec<Spoken>) {
        for c in words.chars() {
            self.hanzi_reading(c, c.to_string(), out);
        }
    }

    fn hanzi_reading(&self, c: char, reads: String, out: &mut Vec<Spoken>) {
        if let Some(p) = c.to_pinyin() {
            self.syllable(p.with_tone_num_end(), reads, out);
        }
    }

    fn syllable(&self, pinyin: &str, reads: String, out: &mut Vec<Spoken>) {
        // The clip set holds every syllable the crate can return (a test checks the ones used
        // here), so a miss means a mismatched crate version: the character is skipped.
        if let Some(clip) = self.syllables.get(pinyin) {
            out.push(Spoken::Clip {
                clip: clip.clone(),
                reads,
            });
        }
    }
}

/// 0-99 as a Chinese number: 七, 十, 十六, 二十, 三十一.
fn zh_number(n: u32) -> String {
    let (tens, ones) = ((n / 10) as usize, (n % 10) as usize);
    let mut s = String::new();
    match tens {
        0 => {}
        1 => s.push('十'),
        t => s.extend([HANZI_DIGITS[t % 10], '十']),
    }
    if ones != 0 || tens == 0 {
        s.push(HANZI_DIGITS[ones]);
    }
    s
}

/// Minutes and seconds: below ten with a 零 before (零五), zero as 零.
fn zh_minutes(n: u32) -> String {
    match n {
        0 => "零".into(),
        1..=9 => format!("零{}", zh_number(n)),
        _ => zh_number(n),
    }
}

/// `07` → `7`; `00` → `0`.
fn unpad(two: &str) -> &str {
    match two.strip_prefix('0') {
        Some(rest) if !rest.is_empty() => rest,
        _ => two,
    }
}

/// Fullwidth ASCII (U+FF01-U+FF5E) as ASCII: `１` → `1`, `．` → `.`.
fn ascii_form(c: char) -> char {
    if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
        char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c)
    } else {
        c
    }
}

/// The pause for a punctuation mark or white space; `None` for anything else.
fn pause(c: char) -> Option<u64> {
    if matches!(c, '.' | '!' | '?' | ';' | '。' | '｡' | '…') {
        return Some(SENTENCE_PAUSE_MS);
    }
    let punctuation = c.is_whitespace()
        || c.is_ascii_punctuation()
        || c == '·'
        // General Punctuation, CJK Symbols and Punctuation, vertical and compatibility forms,
        // halfwidth CJK punctuation.
        || ('\u{2000}'..='\u{206F}').contains(&c)
        || ('\u{3000}'..='\u{303F}').contains(&c)
        || ('\u{FE10}'..='\u{FE1F}').contains(&c)
        || ('\u{FE30}'..='\u{FE4F}').contains(&c)
        || ('\u{FF5F}'..='\u{FF65}').contains(&c);
    punctuation.then_some(PAUSE_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib() -> AudioLibrary {
        AudioLibrary::bundled().unwrap()
    }

    /// What `f` makes the speaker say, as `clip name:reads` and `|ms|` for pauses.
    fn said(language: TtsLanguage, f: impl FnOnce(&Speaker<'_>, &mut Vec<Spoken>)) -> Vec<String> {
        let lib = lib();
        let speaker = Speaker::new(&lib, language).unwrap();
        let mut out = Vec::new();
        f(&speaker, &mut out);
        out.iter()
            .map(|s| match s {
                Spoken::Clip { clip, reads } => {
                    let name = clip.name.trim_start_matches("zh/syllables/");
                    format!("{}:{reads}", name.trim_end_matches(".wav"))
                }
                Spoken::Pause(ms) => format!("|{ms}|"),
            })
            .collect()
    }

    fn text(language: TtsLanguage, t: &str) -> Vec<String> {
        said(language, |s, out| s.text(t, out))
    }

    fn value(language: TtsLanguage, v: Variable, t: &str) -> Vec<String> {
        said(language, |s, out| s.value(v, t, out))
    }

    #[test]
    fn chinese_is_read_syllable_by_syllable_with_the_crates_reading() {
        assert_eq!(
            text(TtsLanguage::Zh, "尊敬的张先生"),
            [
                "zun1:尊",
                "jing4:敬",
                "de5:的",
                "zhang1:张",
                "xian1:先",
                "sheng1:生"
            ]
        );
        // No word context: 重 is read with its most common reading.
        assert_eq!(text(TtsLanguage::Zh, "重听"), ["zhong4:重", "ting1:听"]);
        assert_eq!(text(TtsLanguage::Zh, "绿"), ["lv4:绿"]);
    }

    #[test]
    fn digits_are_read_one_by_one_with_the_languages_digit_clips() {
        assert_eq!(
            text(TtsLanguage::Zh, "按12"),
            ["an4:按", "zh/1:1", "zh/2:2"]
        );
        assert_eq!(
            text(TtsLanguage::En, "按12"),
            ["an4:按", "en/1:1", "en/2:2"]
        );
        assert_eq!(text(TtsLanguage::Zh, "１"), ["zh/1:１"]);
    }

    #[test]
    fn a_point_between_digits_is_a_decimal_point_and_otherwise_a_pause() {
        assert_eq!(
            text(TtsLanguage::Zh, "128.50"),
            ["zh/1:1", "zh/2:2", "zh/8:8", "dian3:.", "zh/5:5", "zh/0:0"]
        );
        assert_eq!(text(TtsLanguage::En, "8.5"), ["en/8:8", "|150|", "en/5:5"]);
        assert_eq!(text(TtsLanguage::Zh, "8."), ["zh/8:8", "|300|"]);
        assert_eq!(text(TtsLanguage::Zh, "８．５")[1], "dian3:．");
    }

    #[test]
    fn letters_are_spelled_with_their_mandarin_names_in_either_language() {
        assert_eq!(
            text(TtsLanguage::Zh, "Wi-Fi"),
            ["da2:W", "bu4:W", "liu2:W", "ai4:i", "|150|", "ai2:F", "fu1:F", "ai4:i"]
        );
        assert_eq!(text(TtsLanguage::En, "ｂ"), ["bi4:ｂ"]);
        let lib = lib();
        for (letter, syllables) in ('A'..='Z').zip(LETTERS) {
            for s in syllables {
                assert!(lib.syllables.get(s).is_some(), "{letter}: {s}");
            }
        }
    }

    #[test]
    fn punctuation_and_spaces_pause_and_anything_else_is_skipped() {
        assert_eq!(
            text(TtsLanguage::Zh, "好，是。a b"),
            ["hao3:好", "|150|", "shi4:是", "|300|", "ei1:a", "|150|", "bi4:b"]
        );
        for c in [
            "、", "：", "“", "”", "（", "）", "《", "》", "—", "·", "\u{3000}", "-", "/",
        ] {
            assert_eq!(text(TtsLanguage::Zh, c), ["|150|"], "{c}");
        }
        for c in ["！", "？", "；", "…", "!", "?", ";"] {
            assert_eq!(text(TtsLanguage::Zh, c), ["|300|"], "{c}");
        }
        assert!(text(TtsLanguage::Zh, "😀のé©").is_empty());
    }

    #[test]
    fn a_date_is_read_as_a_date() {
        let zh = value(TtsLanguage::Zh, Variable::Date, "2017/07/16");
        assert_eq!(
            zh,
            [
                "er4:二",
                "ling2:零",
                "yi1:一",
                "qi1:七",
                "nian2:年",
                "qi1:七",
                "yue4:月",
                "shi2:十",
                "liu4:六",
                "ri4:日"
            ]
        );
        let reads = |v: Vec<String>| -> String {
            v.iter()
                .map(|s| s.split_once(':').unwrap().1.to_owned())
                .collect()
        };
        assert_eq!(
            reads(value(TtsLanguage::Zh, Variable::Date, "2000/12/31")),
            "二零零零年十二月三十一日"
        );
        assert_eq!(
            reads(value(TtsLanguage::Zh, Variable::Date, "1999/10/20")),
            "一九九九年十月二十日"
        );
        assert_eq!(
            value(TtsLanguage::En, Variable::Date, "2017/07/16"),
            [
                "en/2:2", "en/0:0", "en/1:1", "en/7:7", "|150|", "en/7:7", "|150|", "en/1:1",
                "en/6:6"
            ]
        );
    }

    #[test]
    fn a_time_is_read_as_a_time() {
        let reads = |v: &str| -> String {
            value(TtsLanguage::Zh, Variable::Time, v)
                .iter()
                .map(|s| s.split_once(':').unwrap().1.to_owned())
                .collect()
        };
        assert_eq!(reads("14:30"), "十四点三十分");
        assert_eq!(reads("14:00"), "十四点整");
        assert_eq!(reads("02:05"), "两点零五分");
        assert_eq!(reads("00:00"), "零点整");
        assert_eq!(reads("12:00:00"), "十二点零分零秒");
        assert_eq!(reads("23:59:08"), "二十三点五十九分零八秒");
        assert_eq!(
            value(TtsLanguage::Zh, Variable::Time, "14:30"),
            [
                "shi2:十",
                "si4:四",
                "dian3:点",
                "san1:三",
                "shi2:十",
                "fen1:分"
            ]
        );
        assert_eq!(
            value(TtsLanguage::En, Variable::Time, "09:05:30"),
            ["en/9:9", "|150|", "en/0:0", "en/5:5", "|150|", "en/3:3", "en/0:0"]
        );
        assert_eq!(
            value(TtsLanguage::En, Variable::Time, "00:00"),
            ["en/0:0", "|150|", "en/0:0", "en/0:0"]
        );
    }

    #[test]
    fn other_values_are_read_as_text() {
        assert_eq!(
            value(TtsLanguage::Zh, Variable::Num(4), "0486"),
            ["zh/0:0", "zh/4:4", "zh/8:8", "zh/6:6"]
        );
        assert_eq!(
            value(TtsLanguage::Zh, Variable::Txt(3), "张先生"),
            ["zhang1:张", "xian1:先", "sheng1:生"]
        );
        // A date that does not parse is text (fill lets none through).
        assert_eq!(
            value(TtsLanguage::Zh, Variable::Date, "7/16"),
            ["zh/7:7", "|150|", "zh/1:1", "zh/6:6"]
        );
    }

    #[test]
    fn chinese_numbers_up_to_99() {
        let n: Vec<String> = [0, 7, 10, 11, 16, 20, 31, 99].map(zh_number).to_vec();
        assert_eq!(
            n,
            ["零", "七", "十", "十一", "十六", "二十", "三十一", "九十九"]
        );
    }
}
