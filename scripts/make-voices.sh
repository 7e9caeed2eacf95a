#!/usr/bin/env bash
# scripts/make-voices.sh -- regenerate the bundled voice clips in voices/.
#
#   scripts/make-voices.sh           regenerate voices/ in place, rewrite voices/SHA256SUMS
#   scripts/make-voices.sh --check   build into a temp dir and compare with the committed
#                                    files and voices/SHA256SUMS; changes nothing
#
# What it does (see voices/README.md):
#   * installs sox and espeak-ng with apt-get if they are missing (needs root or sudo);
#   * `apt-get update` once, then `apt-get download`s the pinned .debs
#     asterisk-core-sounds-{en,es,fr,it,ru}-wav 1.6.1-1 into a temp dir (nothing is
#     installed) and extracts them with `dpkg-deb -x`;
#   * converts/trims/normalises the clips to 8 kHz 16-bit signed PCM mono WAV
#     (plain 44-byte RIFF header), RMS -20 dBFS, peak <= -1 dBFS, no dither;
#   * synthesises the Mandarin voice with espeak-ng (voice cmn-latn-pinyin);
#   * synthesises one clip per toned Mandarin syllable listed in voices/zh/syllables.txt
#     (every syllable the `pinyin` crate can return) into voices/zh/syllables/, for the
#     template TTS, and writes their manifest voices/zh/syllables/syllables.toml;
#   * synthesises the tones in voices/tones/ with sox;
#   * writes voices/<tag>/voice.toml, voices/tones/tones.toml, the licence files in
#     voices/LICENSES/ taken from the package, and voices/SHA256SUMS.
#
# The output is byte-identical from run to run (no dither, no timestamps, no metadata)
# as long as the pinned sox and espeak-ng versions are used.
#
# Environment:
#   VOICES_DEB_DIR=dir     take the .debs from dir instead of downloading them
#   SKIP_APT_UPDATE=1      do not run `apt-get update`
#   ALLOW_TOOL_MISMATCH=1  only warn (instead of failing) when sox/espeak-ng differ
#                          from the pinned versions (output may then differ)
set -euo pipefail

export LC_ALL=C TZ=UTC

# ---------------------------------------------------------------- pins
ASTERISK_VERSION="1.6.1-1"
declare -A DEB_SHA256=(
  [en]=2be3ea287d83299d143815fa804f11179a75b7affd4a758b98b55f5afc18a35d
  [es]=9283a09a6d56fccdcc2bcfe86c48f0f844289cfbd46a3184d8785a6f7f569903
  [fr]=8d4e1bc32ed5ba7fbda40841ca1825ed20cc6232724a473c90f8bb0e53e6073e
  [it]=5a26638089e134b8ac39363fe249c5c93c50cd8bfdc9b2499ae61ec4a35e2fcb
  [ru]=ccbfaebfa450b7a9ddf644ae0f3d1e9017d5df7c0aebe816e946345589d38201
)
# Tools: pinned because resampler/synthesiser changes would change the bytes.
declare -A TOOL_VERSION=(
  [sox]="14.4.2+git20190427-3.5"
  [libsox3]="14.4.2+git20190427-3.5"
  [espeak-ng]="1.51+dfsg-10+deb12u2"
  [espeak-ng-data]="1.51+dfsg-10+deb12u2"
  [libespeak-ng1]="1.51+dfsg-10+deb12u2"
)

# ---------------------------------------------------------------- targets
TARGET_RMS=-20      # dBFS (sox `stats` "RMS lev dB")
RMS_TOL=1           # +/- dB
PEAK_CEIL=-1.2      # dBFS we aim under, leaves margin below the -1 dBFS limit
PEAK_MAX=-1         # dBFS hard limit checked at the end
GAP_MS=100          # milliseconds of silence between words of a concatenated prompt
ESPEAK_VOICE=cmn-latn-pinyin
ESPEAK_SPEED=120    # words per minute (default 175 makes the digits ~0.2 s: too fast for a code)
# Syllables for the template TTS are said faster than the digits of a code: at 140 wpm the
# median syllable is 0.35 s (10 % are under 0.25 s, 10 % over 0.44 s), about 3 syllables a
# second when they are played back to back, and the whole set stays under 10 MB.
SYL_SPEED=140
SYL_LIST_NAME=zh/syllables.txt   # input, relative to voices/: one crate syllable a line
PINYIN_CRATE=pinyin PINYIN_CRATE_VERSION=0.11.0   # what syllables.txt was made from

SOX=(sox -D --no-glob)                                   # -D: never dither
OUTFMT=(-t wav -e signed-integer -b 16 -r 8000 -c 1)
# trim leading silence, reverse, trim (trailing) silence, 5 ms fade-in (= the fade-out),
# reverse back, 5 ms fade-in: silence removed and de-clicked at both ends
TRIM=(silence 1 0.02 -50d reverse silence 1 0.02 -50d fade t 0.005 reverse fade t 0.005)

# ---------------------------------------------------------------- helpers
die() { echo "make-voices: error: $*" >&2; exit 1; }
log() { echo "make-voices: $*" >&2; }

MODE=write
case "${1:-}" in
  "") ;;
  --check) MODE=check ;;
  -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 0 ;;
  *) die "unknown argument '$1' (try --help)" ;;
esac

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
VOICES="$ROOT/voices"

as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"
  fi
}

APT_UPDATED=0
apt_update_once() {
  [[ $APT_UPDATED == 1 ]] && return 0
  APT_UPDATED=1
  [[ ${SKIP_APT_UPDATE:-0} == 1 ]] && return 0
  log "apt-get update"
  as_root apt-get update -qq
}

ensure_tools() {
  local missing=() p v msg
  command -v sox >/dev/null 2>&1 || missing+=(sox)
  command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
  if ((${#missing[@]})); then
    apt_update_once
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  for p in "${!TOOL_VERSION[@]}"; do
    v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
    if [[ $v != "${TOOL_VERSION[$p]}" ]]; then
      msg="$p is version '${v:-not installed}', pinned ${TOOL_VERSION[$p]}; output may not be byte-identical"
      if [[ ${ALLOW_TOOL_MISMATCH:-0} == 1 ]]; then log "warning: $msg"
      else die "$msg (set ALLOW_TOOL_MISMATCH=1 to go on anyway)"
      fi
    fi
  done
}

# fetch_debs DIR: download (or copy) the pinned .debs, check sha256, extract to DIR/x-<tag>
fetch_debs() {
  local dir=$1 l pkg deb avail
  for l in en es fr it ru; do
    pkg="asterisk-core-sounds-$l-wav"
    deb="${pkg}_${ASTERISK_VERSION}_all.deb"
    if [[ -n ${VOICES_DEB_DIR:-} && -f ${VOICES_DEB_DIR}/$deb ]]; then
      cp -- "$VOICES_DEB_DIR/$deb" "$dir/"
    else
      apt_update_once
      avail=$(apt-cache madison "$pkg" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' | sort -u | paste -sd' ' -)
      if ! grep -qxF -- "$ASTERISK_VERSION" <<<"${avail// /$'\n'}"; then
        die "$pkg version $ASTERISK_VERSION is not available from apt (available: ${avail:-none}); update the pins in $0 deliberately"
      fi
      log "apt-get download $pkg=$ASTERISK_VERSION"
      local sandbox=()
      # as root, apt would try (and warn about failing) to download as user _apt
      if [[ $EUID -eq 0 ]]; then sandbox=(-o APT::Sandbox::User=root); fi
      (cd "$dir" && apt-get download -q "${sandbox[@]}" "$pkg=$ASTERISK_VERSION" >/dev/null)
    fi
    [[ -f $dir/$deb ]] || die "download of $deb failed"
    echo "${DEB_SHA256[$l]}  $dir/$deb" | sha256sum -c --quiet - \
      || die "$deb does not match the pinned sha256"
    dpkg-deb -x "$dir/$deb" "$dir/x-$l"
  done
}

# levels_of FILE -> "RMS PEAK LENGTH" (dB, dB, s) from one `sox FILE -n stats` run
levels_of() {
  "${SOX[@]}" "$1" -n stats 2>&1 | awk '
    index($0, "RMS lev dB") == 1 { r = $NF }
    index($0, "Pk lev dB") == 1 { p = $NF }
    index($0, "Length s") == 1 { l = $NF }
    END { print r, p, l }'
}

# prep IN OUT: convert to the output format, trim leading/trailing silence, de-click
prep() {
  "${SOX[@]}" "$1" "${OUTFMT[@]}" "$2" rate -v 8000 "${TRIM[@]}"
}

# normalise IN OUT: gain to TARGET_RMS; if the peak would then exceed PEAK_CEIL, lower the
# gain so the peak sits at PEAK_CEIL and accept the quieter RMS as long as it stays within
# RMS_TOL-0.2 dB of the target. Beyond that the script stops: a source with such a high
# crest factor needs a deliberate limiter/compressor setting (none of the current ones does).
normalise() {
  local in=$1 out=$2 rms pk len g
  read -r rms pk len < <(levels_of "$in")
  [[ -n $rms && -n $pk ]] || die "cannot measure $in"
  g=$(awk -v r="$rms" -v p="$pk" -v t="$TARGET_RMS" -v c="$PEAK_CEIL" -v tol="$RMS_TOL" 'BEGIN {
        g = t - r
        if (p + g > c) { g = c - p; if (r + g < t - tol + 0.2) { print "FAIL"; exit } }
        printf "%.2f\n", g }')
  [[ $g != FAIL ]] || die "$in: peak $pk dB at RMS $rms dB; cannot reach RMS $TARGET_RMS dB with peak <= $PEAK_CEIL dB without a limiter"
  "${SOX[@]}" "$in" "${OUTFMT[@]}" "$out" gain "$g"
}

# silence_wav OUT SECONDS
silence_wav() {
  "${SOX[@]}" -n "${OUTFMT[@]}" "$1" trim 0 "$2"
}

# concat_clip OUT IN... : prep + normalise every word, join with GAP s of silence, normalise
concat_clip() {
  local out=$1; shift
  local parts=() i=0 f
  silence_wav "$WORK/gap.wav" "$(awk -v m="$GAP_MS" 'BEGIN{printf "%.3f", m / 1000}')"
  for f in "$@"; do
    prep "$f" "$WORK/c$i-p.wav"
    normalise "$WORK/c$i-p.wav" "$WORK/c$i-n.wav"
    if ((i > 0)); then parts+=("$WORK/gap.wav"); fi
    parts+=("$WORK/c$i-n.wav")
    i=$((i + 1))
  done
  "${SOX[@]}" "${parts[@]}" "${OUTFMT[@]}" "$WORK/cat.wav"
  normalise "$WORK/cat.wav" "$out"
}

# single_clip OUT IN
single_clip() {
  prep "$2" "$WORK/s-p.wav"
  normalise "$WORK/s-p.wav" "$1"
}

# espeak_clip OUT TEXT
espeak_clip() {
  # -a 50: half the default amplitude, so resampling cannot clip (gain is set afterwards)
  espeak-ng -v "$ESPEAK_VOICE" -s "$ESPEAK_SPEED" -a 50 -w "$WORK/espeak.wav" -- "$2"
  single_clip "$1" "$WORK/espeak.wav"
}

toml_str() { # TOML basic string
  local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"
}

# ---------------------------------------------------------------- voice data
# For every voice: source dir inside the package, digit words, intro/goodbye sources.
declare -A VDIR=(
  [en]=en_US_f_Allison [es]=es_MX_f_Allison [fr]=fr_CA_f_June
  [it]=it_IT_m_Carlo   [ru]=ru_RU_f_IvrvoiceRU
)
declare -A VNAME=(
  [en]="English (US), female voice of Allison Smith"
  [es]="Spanish (Mexico), female voice of Allison Smith"
  [fr]="French (Canada), female voice of June Wallack"
  [it]="Italian, male voice of Carlo Flora"
  [ru]="Russian, female voice from IvrvoiceRU (Maxim Topal)"
  [zh]="Mandarin Chinese, eSpeak NG synthetic voice cmn-latn-pinyin"
)
declare -A VTYPE=([zh]=1 [en]=2 [es]=3 [fr]=4 [it]=5 [ru]=6)
declare -A VLIC=(
  [en]=CC-BY-SA-3.0 [es]=CC-BY-SA-3.0 [fr]=CC-BY-SA-3.0
  [it]=CC-BY-3.0 [ru]=CC-BY-3.0 [zh]=CC0-1.0
)
declare -A VCREDIT=(
  [en]="Recorded by Allison Smith (http://www.theivrvoice.com); financial contributions by Digium, Inc. (http://www.digium.com). Copyright 2003-2010 Allison Smith. From Asterisk Core Sounds 1.6.1."
  [es]="Recorded by Allison Smith (http://www.theivrvoice.com); financial contributions by Digium, Inc. (http://www.digium.com). Copyright 2003-2010 Allison Smith. From Asterisk Core Sounds 1.6.1."
  [fr]="Recorded by June Wallack (http://www.junewallack.com); translated into French by Clod Patry, Kristopher Lalletti and June Wallack; financial contributions by Digium, Inc., Unlimitel and BGM Informatique. Copyright 2006-2008 June Wallack. From Asterisk Core Sounds 1.6.1."
  [it]="Recorded by Carlo Flora (http://www.carloflora.com, http://www.segreterietelefoniche.it); translated by Silvia Petrin. Copyright 2012 Carlo Flora. From Asterisk Core Sounds 1.6.1."
  [ru]="Provided by Maxim Topal (http://www.ivrvoice.ru). Copyright 2010 Maxim. From Asterisk Core Sounds 1.6.1."
  [zh]="Synthesised by the Dialtone project with eSpeak NG (https://github.com/espeak-ng/espeak-ng), voice cmn-latn-pinyin. No attribution required."
)
DIGITS_en=(zero one two three four five six seven eight nine)
DIGITS_es=(cero uno dos tres cuatro cinco seis siete ocho nueve)
DIGITS_fr=(zéro un deux trois quatre cinq six sept huit neuf)
DIGITS_it=(zero uno due tre quattro cinque sei sette otto nove)
DIGITS_ru=(ноль один два три четыре пять шесть семь восемь девять)
DIGITS_zh=(零 一 二 三 四 五 六 七 八 九)
# intro: words (source files, relative to the voice dir) and what they say
declare -A INTRO_SRC=(
  [en]="your.wav vm-password.wav is.wav"
  [es]="vm-password.wav"
  [fr]="your.wav vm-password.wav"
  [it]="vm-password.wav is.wav"
  [ru]="your.wav vm-password.wav"
)
declare -A INTRO_TEXT=(
  [en]="Your password is" [es]="Contraseña" [fr]="Votre mot de passe"
  [it]="Password è" [ru]="Ваш пароль" [zh]="您的验证码是"
)
declare -A GOODBYE_TEXT=(
  [en]="Goodbye" [es]="Adiós" [fr]="Au revoir" [it]="Arrivederci"
  [ru]="До свидания" [zh]="再见"
)
# why the intro is worded the way it is (no set has a "your verification code is" clip)
declare -A INTRO_NOTE=(
  [en]="intro: no \"code\"/\"verification\" clip exists; \"Your password is\" is the closest honest wording."
  [es]="intro: es_MX_f_Allison has no your.wav or is.wav, so the intro is only \"Contraseña\" (password)."
  [fr]="intro: fr_CA_f_June has no is.wav, so the intro is \"Votre mot de passe\" (your password)."
  [it]="intro: your.wav is left out because its gender/form is unknown (la password is feminine); \"Password è\" = \"password is\"."
  [ru]="intro: ru_RU_f_IvrvoiceRU/is.wav is empty (0 samples) and Russian needs no copula: \"Ваш пароль\" (your password)."
)
REPEAT_TEXT_zh="我再说一遍"
# Where the words said were taken from (see voices/README.md, "Transcripts").
declare -A TEXT_NOTE=(
  [en]="Digit, vm-password and vm-goodbye texts are as in Asterisk's core-sounds-en.txt transcript; your.wav and is.wav are not in that (older) transcript, their words are taken from their file names."
  [ru]="Digit, vm-password and vm-goodbye texts are as in Asterisk's core-sounds-ru.txt transcript (which misspells 5 as 'петь'); your.wav is not in it, its word is taken from the file name."
  [es]="No Spanish transcript is shipped in the package and none was found: the texts are the expected Spanish for the prompt names (as in core-sounds-en.txt) and were NOT checked by ear."
  [fr]="No French transcript is shipped in the package and none was found: the texts are the expected French for the prompt names (as in core-sounds-en.txt) and were NOT checked by ear."
  [it]="No Italian transcript is shipped in the package and none was found: the texts are the expected Italian for the prompt names (as in core-sounds-en.txt) and were NOT checked by ear."
)

CHANGES_REC="Extracted from the Debian package; converted to 8 kHz 16-bit signed PCM mono WAV without dither (sox -D); leading/trailing silence removed (sox silence 1 0.02 -50d, both ends); 5 ms linear fade-in/out; gain set so RMS is -20 dBFS (peak kept <= -1.2 dBFS); intro.wav made from the source file(s) listed for it, joined with 100 ms of silence when there are several (each word normalised before joining, the result normalised again); metadata not copied."
CHANGES_ZH="Synthesised with espeak-ng (voice cmn-latn-pinyin, speed 120 wpm, amplitude 50, default pitch) at 22050 Hz; resampled to 8 kHz (sox rate -v) 16-bit signed PCM mono WAV without dither; leading/trailing silence removed (sox silence 1 0.02 -50d, both ends); 5 ms linear fade-in/out; gain set so RMS is -20 dBFS (peak kept <= -1.2 dBFS)."
FORMAT_STR="wav pcm_s16le 8000 Hz mono"

# ---------------------------------------------------------------- builders
write_recorded_voice() { # tag pkgroot outdir
  local t=$1 src=$2/usr/share/asterisk/sounds/${VDIR[$1]} out=$3 i w f srcs=()
  local rel="usr/share/asterisk/sounds/${VDIR[$1]}"
  local -n digits="DIGITS_$t"
  [[ -d $src ]] || die "voice dir $rel missing in asterisk-core-sounds-$t-wav"
  mkdir -p "$out"
  for i in 0 1 2 3 4 5 6 7 8 9; do
    [[ -s $src/digits/$i.wav ]] || die "$rel/digits/$i.wav missing or empty"
    single_clip "$out/$i.wav" "$src/digits/$i.wav"
  done
  for w in ${INTRO_SRC[$t]}; do
    [[ -s $src/$w ]] || die "$rel/$w missing or empty"
    srcs+=("$src/$w")
  done
  concat_clip "$out/intro.wav" "${srcs[@]}"
  [[ -s $src/vm-goodbye.wav ]] || die "$rel/vm-goodbye.wav missing"
  single_clip "$out/goodbye.wav" "$src/vm-goodbye.wav"

  local intro_src="" sep=""
  for w in ${INTRO_SRC[$t]}; do intro_src+="$sep$rel/$w"; sep=" + ${GAP_MS} ms silence + "; done
  {
    echo "# Generated by scripts/make-voices.sh -- edit the script, not this file."
    echo "# ${TEXT_NOTE[$t]}"
    echo "# ${INTRO_NOTE[$t]}"
    echo "# repeat.wav is not provided: the package has no \"I repeat\"/\"again\" clip"
    echo "# (vm-repeat.wav says \"Press 5 to repeat the current message\")."
    echo "tag = $(toml_str "$t")"
    echo "name = $(toml_str "${VNAME[$t]}")"
    echo "language_type = ${VTYPE[$t]}"
    echo "licence = $(toml_str "${VLIC[$t]}")"
    echo "credit = $(toml_str "${VCREDIT[$t]}")"
    echo "source_package = $(toml_str "asterisk-core-sounds-$t-wav")"
    echo "source_version = $(toml_str "$ASTERISK_VERSION")"
    echo "changes = $(toml_str "$CHANGES_REC")"
    echo "format = $(toml_str "$FORMAT_STR")"
    echo
    echo "[clips]"
    for i in 0 1 2 3 4 5 6 7 8 9; do
      echo "\"$i.wav\" = { text = $(toml_str "${digits[$i]}"), source = $(toml_str "$rel/digits/$i.wav") }"
    done
    echo "\"intro.wav\" = { text = $(toml_str "${INTRO_TEXT[$t]}"), source = $(toml_str "$intro_src") }"
    echo "\"goodbye.wav\" = { text = $(toml_str "${GOODBYE_TEXT[$t]}"), source = $(toml_str "$rel/vm-goodbye.wav") }"
  } >"$out/voice.toml"
}

write_zh_voice() { # outdir
  local out=$1 i cmd="espeak-ng -v $ESPEAK_VOICE -s $ESPEAK_SPEED -a 50 -w OUT.wav"
  local -n digits=DIGITS_zh
  mkdir -p "$out"
  for i in 0 1 2 3 4 5 6 7 8 9; do espeak_clip "$out/$i.wav" "${digits[$i]}"; done
  espeak_clip "$out/intro.wav" "${INTRO_TEXT[zh]}"
  espeak_clip "$out/repeat.wav" "$REPEAT_TEXT_zh"
  espeak_clip "$out/goodbye.wav" "${GOODBYE_TEXT[zh]}"
  {
    echo "# Generated by scripts/make-voices.sh -- edit the script, not this file."
    echo "# Licence of the audio: espeak-ng itself is GPL-3.0-or-later. Neither its README nor its"
    echo "# Debian copyright file says anything about the licence of the speech it produces; the"
    echo "# GPL does not cover a program's output unless the output contains part of the program"
    echo "# (GNU GPL FAQ, \"Is there some way that I can GPL the output people get from use of my"
    echo "# program?\"). We treat these clips as our own work and release them under CC0-1.0."
    echo "tag = \"zh\""
    echo "name = $(toml_str "${VNAME[zh]}")"
    echo "language_type = ${VTYPE[zh]}"
    echo "licence = $(toml_str "${VLIC[zh]}")"
    echo "credit = $(toml_str "${VCREDIT[zh]}")"
    echo "source_package = \"espeak-ng\""
    echo "source_version = $(toml_str "${TOOL_VERSION[espeak-ng]}")"
    echo "changes = $(toml_str "$CHANGES_ZH")"
    echo "format = $(toml_str "$FORMAT_STR")"
    echo
    echo "[clips]"
    for i in 0 1 2 3 4 5 6 7 8 9; do
      echo "\"$i.wav\" = { text = $(toml_str "${digits[$i]}"), source = $(toml_str "$cmd '${digits[$i]}'") }"
    done
    echo "\"intro.wav\" = { text = $(toml_str "${INTRO_TEXT[zh]}"), source = $(toml_str "$cmd '${INTRO_TEXT[zh]}'") }"
    echo "\"repeat.wav\" = { text = $(toml_str "$REPEAT_TEXT_zh"), source = $(toml_str "$cmd '$REPEAT_TEXT_zh'") }"
    echo "\"goodbye.wav\" = { text = $(toml_str "${GOODBYE_TEXT[zh]}"), source = $(toml_str "$cmd '${GOODBYE_TEXT[zh]}'") }"
  } >"$out/voice.toml"
}

# ---------------------------------------------------------------- Mandarin syllables
# voices/zh/syllables.txt lists every syllable the `pinyin` crate can return from
# `with_tone_num_end()`, spelled as the crate spells it: tone 1-4 as a final digit, the
# neutral tone without a digit ("de"), u-umlaut as "ü" ("lü4"), and "ê", "m", "n", "ng",
# "hm", "hng". Each becomes voices/zh/syllables/<file>, named in ASCII:
#   file = base with ü -> v and ê -> eh, then the tone 1-5 (5 = neutral), then .wav:
#   zhang1 -> zhang1.wav, de -> de5.wav, lü4 -> lv4.wav, nüe4 -> nve4.wav, ê2 -> eh2.wav.
# espeak-ng (cmn-latn-pinyin) is given the same toned pinyin, with 5 for the neutral tone
# (without a digit it says tone 1) and v for ü. It cannot say the syllabic nasals m, n, hm, hng
# from pinyin (it spells "hm"/"hng" as letters and says m1..m4/n2..n4 without a tone), so those
# are given as espeak phonemes: [[m-35]] for m2, [[n-51]] for n4, [[Xm-11]] for hm, [[XN-11]]
# for hng (X = the pinyin h, m-/n-/N- = syllabic nasal, 55/35/214/51/11 = tones 1/2/3/4/neutral).
declare -A TONE_PHONEME=([1]=55 [2]=35 [3]=214 [4]=51 [5]=11)
# Syllables said at another speed than SYL_SPEED. Neutral "quan" at 140 wpm is a long quiet
# aspiration and a short loud vowel: crest factor 20.4 dB, so RMS -20 dBFS would need a peak
# above -1 dBFS (normalise stops); at 120 wpm the crest factor is 19.1 dB and it fits.
declare -A SYL_SPEED_FOR=([quan]=120)

# syl_parse SYL: sets SYL_TONE (1-5), SYL_FILE and SYL_SAY (the espeak-ng input); dies on a
# syllable it does not understand
syl_parse() {
  local s=$1 base ascii
  [[ $s =~ ^([a-z]|ü|ê)+[1-4]?$ ]] || die "$SYL_LIST_NAME: unexpected syllable '$s'"
  if [[ $s == *[1-4] ]]; then SYL_TONE=${s: -1}; base=${s%?}; else SYL_TONE=5; base=$s; fi
  ascii=${base//ü/v}; ascii=${ascii//ê/eh}
  [[ $ascii =~ ^[a-z]+$ ]] || die "$SYL_LIST_NAME: cannot name a file for '$s'"
  SYL_FILE=$ascii$SYL_TONE.wav
  case $base in
    m | n) SYL_SAY="[[$base-${TONE_PHONEME[$SYL_TONE]}]]" ;;
    hm) SYL_SAY="[[Xm-${TONE_PHONEME[$SYL_TONE]}]]" ;;
    hng) SYL_SAY="[[XN-${TONE_PHONEME[$SYL_TONE]}]]" ;;
    *) SYL_SAY=${base//ü/v}$SYL_TONE ;;
  esac
}

# read_syllables: SYLLABLES=(every syllable of voices/zh/syllables.txt, in file order)
read_syllables() {
  local f=$VOICES/$SYL_LIST_NAME line
  [[ -f $f ]] || die "$f missing"
  grep -qF "\`$PINYIN_CRATE\` crate $PINYIN_CRATE_VERSION" "$f" \
    || die "$f was not made from the $PINYIN_CRATE crate $PINYIN_CRATE_VERSION (update PINYIN_CRATE_VERSION deliberately)"
  SYLLABLES=()
  while IFS= read -r line; do
    [[ -z $line || $line == \#* ]] && continue
    SYLLABLES+=("$line")
  done <"$f"
  ((${#SYLLABLES[@]} > 0)) || die "$f lists no syllable"
  printf '%s\n' "${SYLLABLES[@]}" | sort -c 2>/dev/null || die "$f is not sorted (LC_ALL=C sort)"
  [[ -z $(printf '%s\n' "${SYLLABLES[@]}" | uniq -d) ]] || die "$f has duplicates"
}

CHANGES_SYL="Synthesised with espeak-ng (voice cmn-latn-pinyin, speed $SYL_SPEED wpm unless the entry says otherwise, amplitude 50, default pitch) at 22050 Hz from the toned pinyin (neutral tone as tone 5, ü as v; syllabic nasals as espeak phonemes); resampled to 8 kHz (sox rate -v) 16-bit signed PCM mono WAV without dither; leading/trailing silence removed (sox silence 1 0.02 -50d, both ends); 5 ms linear fade-in/out; gain set so RMS is -20 dBFS (peak kept <= -1.2 dBFS)."

write_zh_syllables() { # outdir
  local out=$1 s ph want speed n=0
  local -A seen=()
  local cmd="espeak-ng -v $ESPEAK_VOICE -s $SYL_SPEED -a 50 -w OUT.wav --"
  mkdir -p "$out"
  {
    echo "# Generated by scripts/make-voices.sh -- edit the script, not this file."
    echo "# One clip per Mandarin syllable, for the template TTS: every syllable in"
    echo "# voices/$SYL_LIST_NAME, i.e. every string the \`$PINYIN_CRATE\` crate $PINYIN_CRATE_VERSION can return from"
    echo "# Pinyin::with_tone_num_end() (ToPinyin / ToPinyinMulti). [syllables] is keyed by that string"
    echo "# exactly (tone digit 1-4 at the end, no digit for the neutral tone, u-umlaut as ü):"
    echo "#   file   = the clip in this folder: ü -> v, ê -> eh, tone 1-5 (5 = neutral), .wav"
    echo "#   tone   = 1-4, or 5 for the neutral tone"
    echo "#   espeak = what espeak-ng was given: $cmd '<espeak>'"
    echo "#   speed  = only where it is not $SYL_SPEED: the -s (words per minute) used instead"
    echo "# Licence: as voices/zh/voice.toml (espeak-ng output, released under CC0-1.0)."
    echo "licence = $(toml_str "${VLIC[zh]}")"
    echo "credit = $(toml_str "${VCREDIT[zh]}")"
    echo "source_package = \"espeak-ng\""
    echo "source_version = $(toml_str "${TOOL_VERSION[espeak-ng]}")"
    echo "pinyin_crate = $(toml_str "$PINYIN_CRATE")"
    echo "pinyin_crate_version = $(toml_str "$PINYIN_CRATE_VERSION")"
    echo "pinyin_style = \"with_tone_num_end\""
    echo "changes = $(toml_str "$CHANGES_SYL")"
    echo "format = $(toml_str "$FORMAT_STR")"
    echo "count = ${#SYLLABLES[@]}"
    echo
    echo "[syllables]"
    for s in "${SYLLABLES[@]}"; do
      syl_parse "$s"
      [[ -z ${seen[$SYL_FILE]:-} ]] || die "syllables '${seen[$SYL_FILE]}' and '$s' would share $SYL_FILE"
      seen[$SYL_FILE]=$s
      # -x prints the phonemes espeak-ng said: they must be one syllable with the wanted tone
      # (a mis-read input comes out as spelled letters, i.e. several words and tones)
      speed=${SYL_SPEED_FOR[$s]:-$SYL_SPEED}
      ph=$(espeak-ng -v "$ESPEAK_VOICE" -s "$speed" -a 50 -x -w "$WORK/espeak.wav" -- "$SYL_SAY")
      want=${TONE_PHONEME[$SYL_TONE]}
      ph=${ph#"${ph%%[![:space:]]*}"}
      [[ $ph != *[[:space:]]* && $ph =~ (214|55|35|51|11) && ${BASH_REMATCH[1]} == "$want" \
         && ${ph#*"$want"} != *[0-9][0-9]* ]] \
        || die "espeak-ng read syllable '$s' (input '$SYL_SAY') as '$ph', expected one syllable of tone $want"
      single_clip "$out/$SYL_FILE" "$WORK/espeak.wav"
      echo "$(toml_str "$s") = { file = $(toml_str "$SYL_FILE"), tone = $SYL_TONE, espeak = $(toml_str "$SYL_SAY")$(
        if [[ $speed != "$SYL_SPEED" ]]; then echo ", speed = $speed"; fi) }"
      n=$((n + 1))
      if ((n % 250 == 0)); then log "  $n/${#SYLLABLES[@]} syllables"; fi
    done
  } >"$out/syllables.toml"
}

# note_wav OUT FREQ LEN DELAY: one sine note, 8 ms attack, linear decay to 0, delayed by DELAY s
note_wav() {
  "${SOX[@]}" -n "${OUTFMT[@]}" "$1" synth "$3" sine "$2" fade t 0.008 "$3" "$(awk -v l="$3" 'BEGIN{printf "%.3f", l - 0.008}')" pad "$4" 0
}

WELCOME_NOTES="523.25:0 659.26:0.15 783.99:0.30 1046.50:0.45"  # C5 E5 G5 C6, 1.0 s each
BYE_NOTES="783.99:0 659.26:0.20 523.25:0.40"                    # G5 E5 C5, 0.8 s each

chime() { # OUT NOTELEN NOTES...
  local out=$1 len=$2 n parts=() i=0; shift 2
  for n in "$@"; do
    note_wav "$WORK/note$i.wav" "${n%%:*}" "$len" "${n#*:}"
    parts+=("$WORK/note$i.wav"); i=$((i + 1))
  done
  "${SOX[@]}" -m "${parts[@]}" "${OUTFMT[@]}" "$WORK/chime.wav"
  single_clip "$out" "$WORK/chime.wav"
}

write_tones() { # outdir
  local out=$1
  mkdir -p "$out"
  # shellcheck disable=SC2086
  chime "$out/welcome.wav" 1.0 $WELCOME_NOTES
  # shellcheck disable=SC2086
  chime "$out/bye.wav" 0.8 $BYE_NOTES
  cat >"$out/tones.toml" <<EOF
# Generated by scripts/make-voices.sh -- edit the script, not this file.
licence = "CC0-1.0"
credit = "Generated by the Dialtone project with sox; no attribution required."
format = "$FORMAT_STR"

[tones."welcome.wav"]
name = "welcome"
description = "Short rising major-arpeggio welcome chime (C5 E5 G5 C6), played when the call is answered."
made_with = "sox synth: four sine notes of 1.0 s (523.25, 659.26, 783.99, 1046.50 Hz) starting 0.15 s apart, 8 ms attack and linear fade-out over the whole note, mixed (sox -m), silence-trimmed, RMS normalised to -20 dBFS"
licence = "CC0-1.0"

[tones."bye.wav"]
name = "bye"
description = "Short falling closing chime (G5 E5 C5), played before hang-up."
made_with = "sox synth: three sine notes of 0.8 s (783.99, 659.26, 523.25 Hz) starting 0.20 s apart, 8 ms attack and linear fade-out over the whole note, mixed (sox -m), silence-trimmed, RMS normalised to -20 dBFS"
licence = "CC0-1.0"
EOF
}

# License texts: the package's own copyright file, plus the two CC texts it contains.
write_licences() { # pkgdir outdir
  local x=$1 out=$2 l c first="" name
  mkdir -p "$out"
  for l in en es fr it ru; do
    c=$x/x-$l/usr/share/doc/asterisk-core-sounds-$l-wav/copyright
    [[ -f $c ]] || die "copyright file missing in asterisk-core-sounds-$l-wav"
    if [[ -z $first ]]; then first=$c
    else cmp -s "$first" "$c" || die "copyright files of the five packages differ; update make-voices.sh"
    fi
  done
  cp -- "$first" "$out/asterisk-core-sounds.copyright"
  for name in CC-BY-SA-3.0 CC-BY-3.0; do
    # stand-alone "License: NAME" paragraph of the DEP-5 file, un-indented
    awk -v n="$name" '
      prev == "" && $0 == "License: " n { on = 1; prev = $0; next }
      on && /^[^ ]/ { exit }
      on { sub(/^ /, ""); if ($0 == ".") $0 = ""; print }
      { prev = $0 }' "$first" >"$out/$name.txt"
    [[ -s $out/$name.txt ]] || die "could not extract $name text from the copyright file"
  done
}

# ---------------------------------------------------------------- checks
# check_wav FILE MIN_S MAX_S: format, header, loudness, duration
check_wav() {
  local f=$1 lo=$2 hi=$3 hdr rms pk len
  hdr=$(head -c 44 "$f" | od -An -c | tr -d ' \n')
  [[ $(soxi -t "$f") == wav && $(soxi -r "$f") == 8000 && $(soxi -b "$f") == 16 && $(soxi -c "$f") == 1 \
     && $(soxi -e "$f") == "Signed Integer PCM" ]] || die "$f: wrong format"
  [[ $hdr == RIFF*WAVEfmt*data* ]] || die "$f: unexpected header"
  [[ $(( $(stat -c %s "$f") - 44 )) == $(od -An -tu4 -j40 -N4 "$f" | tr -d ' ') ]] || die "$f: extra chunks"
  read -r rms pk len < <(levels_of "$f")
  awk -v r="$rms" -v p="$pk" -v l="$len" -v t="$TARGET_RMS" -v tol="$RMS_TOL" -v pm="$PEAK_MAX" \
      -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(r >= t - tol && r <= t + tol && p <= pm && l >= lo && l <= hi) }' \
    || die "$f: out of bounds (RMS $rms dB, peak $pk dB, length $len s; want RMS ${TARGET_RMS}+/-${RMS_TOL}, peak <= $PEAK_MAX, length $lo..$hi s)"
}

check_tree() { # dir
  local d=$1 t i s
  for t in en es fr it ru zh; do
    # 0.15 s, not 0.3 s: Italian "tre" (it_IT_m_Carlo/digits/3.wav) is only 0.22 s long
    for i in 0 1 2 3 4 5 6 7 8 9; do check_wav "$d/$t/$i.wav" 0.15 1.2; done
    check_wav "$d/$t/intro.wav" 0.3 5
    check_wav "$d/$t/goodbye.wav" 0.3 3
    if [[ -f $d/$t/repeat.wav ]]; then check_wav "$d/$t/repeat.wav" 0.3 5; fi
  done
  check_wav "$d/tones/welcome.wav" 1.0 2.5
  check_wav "$d/tones/bye.wav" 1.0 2.0
  # syllables: the shortest (neutral "de") is about 0.12 s, the longest about 0.6 s
  local n
  for s in "${SYLLABLES[@]}"; do
    syl_parse "$s"
    check_wav "$d/zh/syllables/$SYL_FILE" 0.08 0.8
  done
  n=$(find "$d/zh/syllables" -name '*.wav' -type f | wc -l)
  ((n == ${#SYLLABLES[@]})) || die "$d/zh/syllables has $n clips, $SYL_LIST_NAME lists ${#SYLLABLES[@]} syllables"
}

sums_of() { # dir -> sha256 lines of every wav, paths relative to dir, sorted
  (cd "$1" && find . -name '*.wav' -type f | sed 's|^\./||' | sort | xargs -d '\n' sha256sum)
}

# wav_paths DIR -> every wav under DIR, relative to it, sorted
wav_paths() {
  (cd "$1" && find . -name '*.wav' -type f | sed 's|^\./||' | sort)
}

# ---------------------------------------------------------------- main
ensure_tools
read_syllables
TMP=$(mktemp -d "${TMPDIR:-/tmp}/make-voices.XXXXXX")
trap 'rm -rf -- "$TMP"' EXIT
WORK=$TMP/work; DEBS=$TMP/debs; OUT=$TMP/voices
mkdir -p "$WORK" "$DEBS" "$OUT"

fetch_debs "$DEBS"
for t in en es fr it ru; do
  log "building $t"
  write_recorded_voice "$t" "$DEBS/x-$t" "$OUT/$t"
done
log "building zh"
write_zh_voice "$OUT/zh"
log "building zh/syllables (${#SYLLABLES[@]} syllables from $SYL_LIST_NAME)"
write_zh_syllables "$OUT/zh/syllables"
log "building tones"
write_tones "$OUT/tones"
write_licences "$DEBS" "$OUT/LICENSES"
check_tree "$OUT"
sums_of "$OUT" >"$OUT/SHA256SUMS"

if [[ $MODE == check ]]; then
  status=0
  if [[ -f $VOICES/SHA256SUMS ]]; then
    diff -u "$VOICES/SHA256SUMS" "$OUT/SHA256SUMS" || { log "regenerated clips differ from voices/SHA256SUMS"; status=1; }
    (cd "$VOICES" && sha256sum -c --quiet SHA256SUMS) || { log "committed files differ from voices/SHA256SUMS"; status=1; }
  else
    log "voices/SHA256SUMS missing"; status=1
  fi
  diff -u <(wav_paths "$OUT") <(wav_paths "$VOICES") >&2 \
    || { log "voices/ holds other WAV files than a fresh build (+: only in voices/)"; status=1; }
  for f in "$OUT"/*/voice.toml "$OUT"/tones/tones.toml "$OUT"/zh/syllables/syllables.toml "$OUT"/LICENSES/*; do
    r=${f#"$OUT"/}
    cmp -s "$f" "$VOICES/$r" || { log "voices/$r differs from the regenerated one"; status=1; }
  done
  if ((status == 0)); then log "OK: voices/ matches a fresh build byte for byte"; fi
  exit $status
fi

# write mode: replace generated files, keep hand-written ones (README.md, LICENSES/CC0-1.0.txt,
# LICENSES/pinyin-MIT.txt, zh/syllables.txt)
if [[ -f $VOICES/SHA256SUMS ]] && ! cmp -s "$VOICES/SHA256SUMS" "$OUT/SHA256SUMS"; then
  log "note: clips changed compared with the previous voices/SHA256SUMS:"
  diff -u "$VOICES/SHA256SUMS" "$OUT/SHA256SUMS" >&2 || true
fi
mkdir -p "$VOICES"
for t in en es fr it ru zh tones; do
  rm -f -- "$VOICES/$t"/*.wav
  mkdir -p "$VOICES/$t"
  find "$OUT/$t" -maxdepth 1 -type f -exec cp -t "$VOICES/$t/" -- {} +
done
# zh/syllables/ is generated as a whole (clips and syllables.toml)
rm -rf -- "$VOICES/zh/syllables"
cp -R -- "$OUT/zh/syllables" "$VOICES/zh/syllables"
mkdir -p "$VOICES/LICENSES"
cp -- "$OUT/LICENSES"/* "$VOICES/LICENSES/"
cp -- "$OUT/SHA256SUMS" "$VOICES/SHA256SUMS"
(cd "$VOICES" && sha256sum -c --quiet SHA256SUMS) || die "verification of voices/SHA256SUMS failed"
log "done: $(wc -l <"$VOICES/SHA256SUMS") clips written to voices/, SHA256SUMS verified"
