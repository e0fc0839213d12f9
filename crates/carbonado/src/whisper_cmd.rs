//! `carbonado whisper <verb>`: the whisper-*.py scripts, same arguments, same output.
//!
//! Each verb mirrors one script of python whisper 1.1.x: its options, what it prints on
//! stdout, its `[ERROR] ...` messages on stderr and its exit status (1 for errors and missing
//! arguments, 2 for malformed options). Times printed in local time by the scripts are printed
//! in UTC here; run the scripts with `TZ=UTC` to compare. The clock is the system's, or
//! `CARBONADO_WHISPER_NOW` (epoch seconds) when set, so tests can pin it.

mod pyfmt;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::exit;

use clap::{Args, Subcommand};
use whisper::{
    AggregationMethod, ArchiveSpec, CreateOptions, Error as WspError, ResizeOptions, Whisper,
};

use pyfmt::{repr, Json};

/// One whisper maintenance verb.
#[derive(Subcommand)]
pub enum WhisperCommand {
    /// Create a whisper file (whisper-create.py).
    Create(CreateArgs),
    /// Print a file's header (whisper-info.py).
    Info(InfoArgs),
    /// Print the points of a time range (whisper-fetch.py).
    Fetch(FetchArgs),
    /// Store points given as timestamp:value (whisper-update.py).
    Update(UpdateArgs),
    /// Print header and every slot (whisper-dump.py).
    Dump(DumpArgs),
    /// Change a file's retentions, keeping its data (whisper-resize.py).
    Resize(ResizeArgs),
    /// Change the aggregation method (whisper-set-aggregation-method.py).
    #[command(name = "set-aggregation")]
    SetAggregation(SetAggregationArgs),
    /// Change xFilesFactor (whisper-set-xfilesfactor.py).
    #[command(name = "set-xff")]
    SetXff(SetXffArgs),
    /// Copy points missing in dst from src (whisper-fill.py).
    Fill(FillArgs),
    /// Copy all points of one file into another (whisper-merge.py).
    Merge(MergeArgs),
    /// Compare two files (whisper-diff.py).
    Diff(DiffArgs),
}

/// Arguments of `create`.
#[derive(Args)]
pub struct CreateArgs {
    /// path timePerPoint:timeToStore [timePerPoint:timeToStore]*
    args: Vec<String>,
    /// Fraction of known points needed to aggregate.
    #[arg(long = "xFilesFactor", default_value_t = 0.5)]
    x_files_factor: f64,
    /// Function to use when aggregating values.
    #[arg(long = "aggregationMethod", default_value = "average")]
    aggregation_method: String,
    /// Replace an existing file.
    #[arg(long)]
    overwrite: bool,
    /// Only print the storage an archive list needs.
    #[arg(long)]
    estimate: bool,
    /// Create the file sparse.
    #[arg(long)]
    sparse: bool,
    /// Preallocate the file.
    #[arg(long)]
    fallocate: bool,
}

/// Arguments of `info`.
#[derive(Args)]
pub struct InfoArgs {
    /// path [field]
    args: Vec<String>,
    /// Output results in JSON form.
    #[arg(long)]
    json: bool,
}

/// Arguments of `fetch`.
#[derive(Args)]
pub struct FetchArgs {
    /// path
    args: Vec<String>,
    /// Unix epoch time of the beginning of the interval (default: 24 hours ago).
    #[arg(long = "from", allow_negative_numbers = true)]
    from: Option<i64>,
    /// Unix epoch time of the end of the interval (default: now).
    #[arg(long, allow_negative_numbers = true)]
    until: Option<i64>,
    /// Output results in JSON form.
    #[arg(long)]
    json: bool,
    /// Show human-readable timestamps instead of unix times.
    #[arg(long)]
    pretty: bool,
    /// Time format to use with --pretty; see strftime.
    #[arg(short = 't', long = "time-format")]
    time_format: Option<String>,
    /// Drop nulls, zeroes or both (empty).
    #[arg(long, value_parser = ["zeroes", "nulls", "empty"])]
    drop: Option<String>,
}

/// Arguments of `update`.
#[derive(Args)]
pub struct UpdateArgs {
    /// path [timestamp:value]* (read one per line from stdin when none given)
    #[arg(allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Arguments of `dump`.
#[derive(Args)]
pub struct DumpArgs {
    /// path
    args: Vec<String>,
    /// Show human-readable timestamps instead of unix times.
    #[arg(long)]
    pretty: bool,
    /// Time format to use with --pretty; see strftime.
    #[arg(short = 't', long = "time-format")]
    time_format: Option<String>,
    /// Dump values only, in whisper-update's timestamp:value format.
    #[arg(short = 'r', long)]
    raw: bool,
}

/// Arguments of `resize`.
#[derive(Args)]
pub struct ResizeArgs {
    /// path timePerPoint:timeToStore [timePerPoint:timeToStore]*
    args: Vec<String>,
    /// Change the xFilesFactor.
    #[arg(long = "xFilesFactor")]
    x_files_factor: Option<f64>,
    /// Change the aggregation function.
    #[arg(long = "aggregationMethod")]
    aggregation_method: Option<String>,
    /// Perform a destructive change (accepted, as by whisper-resize).
    #[arg(long)]
    force: bool,
    /// Write a new file and keep the old one untouched.
    #[arg(long)]
    newfile: Option<PathBuf>,
    /// Delete the .bak file after success.
    #[arg(long)]
    nobackup: bool,
    /// Aggregate old values into the new archives' resolution.
    #[arg(long)]
    aggregate: bool,
}

/// Arguments of `set-aggregation`.
#[derive(Args)]
pub struct SetAggregationArgs {
    /// path <method> [xFilesFactor]
    args: Vec<String>,
}

/// Arguments of `set-xff`.
#[derive(Args)]
pub struct SetXffArgs {
    /// Path to whisper file.
    path: PathBuf,
    /// New xFilesFactor, a float between 0 and 1.
    #[arg(value_name = "xFilesFactor")]
    xff: f64,
}

/// Arguments of `fill`.
#[derive(Args)]
pub struct FillArgs {
    /// src dst
    args: Vec<String>,
    /// Lock whisper files (accepted; writes go through one handle).
    #[arg(long)]
    lock: bool,
}

/// Arguments of `merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// from_path to_path
    args: Vec<String>,
    /// Beginning of interval, unix timestamp (default: epoch).
    #[arg(long = "from", allow_negative_numbers = true)]
    from: Option<i64>,
    /// End of interval, unix timestamp (default: now).
    #[arg(long, allow_negative_numbers = true)]
    until: Option<i64>,
}

/// Arguments of `diff`.
#[derive(Args)]
pub struct DiffArgs {
    /// path_a path_b
    args: Vec<String>,
    /// Show summary of differences.
    #[arg(long)]
    summary: bool,
    /// Skip comparison if either value is undefined.
    #[arg(long = "ignore-empty")]
    ignore_empty: bool,
    /// Print output in simple columns.
    #[arg(long)]
    columns: bool,
    /// Do not print column headers.
    #[arg(long = "no-headers")]
    no_headers: bool,
    /// Unix epoch time of the end of the requested interval.
    #[arg(long, allow_negative_numbers = true)]
    until: Option<i64>,
    /// Output results in JSON form.
    #[arg(long)]
    json: bool,
}

/// Why a verb stopped early, and how the script would have said it.
enum Fail {
    /// Message on stderr, exit 1 (the scripts' `raise SystemExit(msg)`).
    Msg(String),
    /// Usage on stdout, exit 1 (the scripts' `print_help(); sys.exit(1)`).
    Usage(&'static str),
    /// Message on stderr, then usage on stdout, exit 1.
    MsgUsage(String, &'static str),
}

type Out = Result<(), Fail>;

fn now() -> i64 {
    if let Some(n) = std::env::var("CARBONADO_WHISPER_NOW")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return n;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// How python whisper's exceptions read when a script prints them.
fn describe(e: &WspError, path: &Path) -> String {
    match e {
        WspError::Corrupt { reason } => format!("{reason} ({})", path.display()),
        WspError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            format!(
                "[Errno 2] No such file or directory: {}",
                pyfmt::repr_str(&path.display().to_string())
            )
        }
        other => other.to_string(),
    }
}

fn err(e: WspError, path: &Path) -> Fail {
    Fail::Msg(format!("[ERROR] {}", describe(&e, path)))
}

/// Runs one verb; exits the process with the script's status on failure.
pub fn run(verb: WhisperCommand) -> anyhow::Result<()> {
    let result = match verb {
        WhisperCommand::Create(a) => create(a),
        WhisperCommand::Info(a) => info(a),
        WhisperCommand::Fetch(a) => fetch(a),
        WhisperCommand::Update(a) => update(a),
        WhisperCommand::Dump(a) => dump(a),
        WhisperCommand::Resize(a) => resize(a),
        WhisperCommand::SetAggregation(a) => set_aggregation(a),
        WhisperCommand::SetXff(a) => set_xff(a),
        WhisperCommand::Fill(a) => fill(a),
        WhisperCommand::Merge(a) => merge(a),
        WhisperCommand::Diff(a) => diff(a),
    };
    let _ = std::io::stdout().flush();
    match result {
        Ok(()) => Ok(()),
        Err(Fail::Msg(m)) => {
            eprintln!("{m}");
            exit(1)
        }
        Err(Fail::Usage(u)) => {
            println!("{u}");
            exit(1)
        }
        Err(Fail::MsgUsage(m, u)) => {
            eprint!("{m}");
            println!("{u}");
            exit(1)
        }
    }
}

const CREATE_USAGE: &str = "Usage: carbonado whisper create path timePerPoint:timeToStore [timePerPoint:timeToStore]*\ncarbonado whisper create --estimate timePerPoint:timeToStore [timePerPoint:timeToStore]*";

fn parse_archives(defs: &[String]) -> Result<Vec<ArchiveSpec>, Fail> {
    defs.iter()
        .map(|d| whisper::parse_retention_def(d).map_err(|e| Fail::Msg(format!("ValueError: {e}"))))
        .collect()
}

fn byte_format(mut num: f64) -> String {
    for unit in ["bytes", "KB", "MB"] {
        if num < 1024.0 {
            return format!("{num:.3}{unit}");
        }
        num /= 1024.0;
    }
    format!("{num:.3}GB")
}

fn create(a: CreateArgs) -> Out {
    let mut args = a.args;
    if a.estimate {
        if args.is_empty() {
            return Err(Fail::Usage(CREATE_USAGE));
        }
        if args.len() == 1 && args[0].find(',').is_some_and(|i| i > 0) {
            args = args[0].split(',').map(str::to_string).collect();
        }
        let archives = parse_archives(&args)?;
        let mut total_points = 0u64;
        for (i, s) in archives.iter().enumerate() {
            println!(
                "Archive {i}: {} points of {}s precision",
                s.points, s.seconds_per_point
            );
            total_points += u64::from(s.points);
        }
        let size = 16 + archives.len() as u64 * 12 + total_points * 12;
        let disk = size.div_ceil(4096) * 4096;
        println!(
            "\nEstimated Whisper DB Size: {} ({disk} bytes on disk with 4k blocks)\n",
            byte_format(size as f64)
        );
        for x in [1u64, 5, 10, 50, 100, 500] {
            println!(
                "Estimated storage requirement for {x}k metrics: {}",
                byte_format((x * 1000 * disk) as f64)
            );
        }
        return Ok(());
    }
    if args.len() < 2 {
        return Err(Fail::Usage(CREATE_USAGE));
    }
    let path = PathBuf::from(&args[0]);
    let mut archives = parse_archives(&args[1..])?;
    if path.exists() && a.overwrite {
        println!("Overwriting existing file: {}", path.display());
        std::fs::remove_file(&path).map_err(|e| err(e.into(), &path))?;
    }
    // Checked in whisper's order: archive list, existing file, method, xFilesFactor.
    whisper::validate_archive_list(&mut archives).map_err(|e| err(e, &path))?;
    if path.exists() {
        return Err(err(
            WspError::InvalidConfiguration(format!("File {} already exists!", path.display())),
            &path,
        ));
    }
    let method: AggregationMethod = a.aggregation_method.parse().map_err(|e| err(e, &path))?;
    let opts = CreateOptions {
        sparse: a.sparse,
        fallocate: a.fallocate,
    };
    whisper::create(&path, &archives, a.x_files_factor, method, opts).map_err(|e| err(e, &path))?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("Created: {} ({size} bytes)", path.display());
    Ok(())
}

const INFO_USAGE: &str = "Usage: carbonado whisper info [options] path [field]";
const INFO_FIELDS: [&str; 5] = [
    "aggregationMethod",
    "maxRetention",
    "xFilesFactor",
    "archives",
    "fileSize",
];

fn archive_fields(a: &whisper::ArchiveInfo) -> [(&'static str, i64); 5] {
    [
        ("offset", i64::from(a.offset)),
        ("secondsPerPoint", i64::from(a.seconds_per_point)),
        ("points", i64::from(a.points)),
        ("retention", a.retention()),
        ("size", a.size() as i64),
    ]
}

fn open(path: &Path) -> Result<Whisper, Fail> {
    Whisper::open(path).map_err(|e| err(e, path))
}

fn info(a: InfoArgs) -> Out {
    let Some(p) = a.args.first() else {
        return Err(Fail::Usage(INFO_USAGE));
    };
    let path = PathBuf::from(p);
    let w = open(&path)?;
    let h = w.header();
    let file_size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if let Some(field) = a.args.get(1) {
        let text = match field.as_str() {
            "aggregationMethod" => h.aggregation_method.to_string(),
            "maxRetention" => h.max_retention.to_string(),
            "xFilesFactor" => repr(h.xff()),
            "fileSize" => file_size.to_string(),
            "archives" => {
                let items: Vec<String> = h
                    .archives
                    .iter()
                    .map(|ar| {
                        let kv: Vec<String> = archive_fields(ar)
                            .iter()
                            .map(|(k, v)| format!("'{k}': {v}"))
                            .collect();
                        format!("{{{}}}", kv.join(", "))
                    })
                    .collect();
                format!("[{}]", items.join(", "))
            }
            _ => {
                println!(
                    "Unknown field \"{field}\". Valid fields are {}",
                    INFO_FIELDS.join(",")
                );
                exit(1);
            }
        };
        println!("{text}");
        return Ok(());
    }
    if a.json {
        let archives = h
            .archives
            .iter()
            .map(|ar| {
                Json::Obj(
                    archive_fields(ar)
                        .iter()
                        .map(|(k, v)| (k.to_string(), Json::Int(*v)))
                        .collect(),
                )
            })
            .collect();
        let j = Json::Obj(vec![
            (
                "aggregationMethod".into(),
                Json::Str(h.aggregation_method.to_string()),
            ),
            ("maxRetention".into(), Json::Int(i64::from(h.max_retention))),
            ("xFilesFactor".into(), Json::Float(h.xff())),
            ("archives".into(), Json::List(archives)),
            ("fileSize".into(), Json::Int(file_size as i64)),
        ]);
        println!("{}", j.dumps(": "));
        return Ok(());
    }
    println!("aggregationMethod: {}", h.aggregation_method);
    println!("maxRetention: {}", h.max_retention);
    println!("xFilesFactor: {}", repr(h.xff()));
    println!("fileSize: {file_size}");
    println!();
    for (i, ar) in h.archives.iter().enumerate() {
        println!("Archive {i}");
        for (k, v) in archive_fields(ar) {
            println!("{k}: {v}");
        }
        println!();
    }
    Ok(())
}

const FETCH_USAGE: &str = "Usage: carbonado whisper fetch [options] path";

fn time_str(t: i64, pretty: bool, fmt: Option<&str>) -> String {
    match (pretty, fmt) {
        (false, _) => t.to_string(),
        (true, Some(f)) => pyfmt::strftime(f, t),
        (true, None) => pyfmt::ctime(t),
    }
}

fn fetch(a: FetchArgs) -> Out {
    if a.args.len() != 1 {
        return Err(Fail::Usage(FETCH_USAGE));
    }
    let path = PathBuf::from(&a.args[0]);
    let now = now();
    let from = a.from.unwrap_or(now - 86400);
    let until = a.until.unwrap_or(now);
    let w = open(&path)?;
    let Some(f) = w.fetch(from, until, now).map_err(|e| err(e, &path))? else {
        return Err(Fail::Msg("No data in selected timerange".into()));
    };
    let mut values = f.values.clone();
    if let Some(d) = a.drop.as_deref() {
        values.retain(|v| match d {
            "zeroes" => *v != Some(0.0),
            "nulls" => v.is_some(),
            _ => v.is_some_and(|x| x != 0.0),
        });
    }
    let mut out = String::new();
    if a.json {
        let list: Vec<String> = values
            .iter()
            .map(|v| v.map_or("null".to_string(), repr))
            .collect();
        out.push_str(&format!(
            "{{\n    \"start\" : {},\n    \"end\" : {},\n    \"step\" : {},\n    \"values\" : [{}]\n  }}\n",
            f.from,
            f.until,
            f.step,
            list.join(", ")
        ));
    } else {
        let mut t = f.from;
        for v in &values {
            let ts = time_str(t, a.pretty, a.time_format.as_deref());
            let vs = v.map_or("None".to_string(), pyfmt::percent_f);
            out.push_str(&format!("{ts}\t{vs}\n"));
            t += f.step;
        }
    }
    write_stdout(&out);
    Ok(())
}

/// Writes all output at once; a closed pipe ends the program quietly, as SIGPIPE does the scripts.
fn write_stdout(s: &str) {
    let mut so = std::io::stdout().lock();
    if so.write_all(s.as_bytes()).and_then(|_| so.flush()).is_err() {
        exit(1);
    }
}

const UPDATE_USAGE: &str = "Usage: carbonado whisper update [options] path [timestamp:value]*\n  If no values are passed as arguments, they are read one-per-line from stdin.";

/// Python's `int(str)`: surrounding whitespace, a sign, digits with single underscores.
fn py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if !clean.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = clean.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Python's `float(str)`.
fn py_float(s: &str) -> Option<f64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if matches!(body, "nan" | "inf" | "infinity") {
        let neg = lower.starts_with('-');
        let v = if body == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        };
        return Some(if neg { -v } else { v });
    }
    if t.contains("__") || t.starts_with('_') || t.ends_with('_') {
        return None;
    }
    let clean: String = t.chars().filter(|&c| c != '_').collect();
    if clean.is_empty()
        || !clean
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    clean.parse().ok()
}

fn update(a: UpdateArgs) -> Out {
    let Some(p) = a.args.first() else {
        return Err(Fail::Usage(UPDATE_USAGE));
    };
    let path = PathBuf::from(p);
    let now = now();
    let mut lines: Vec<String> = a.args[1..].to_vec();
    if lines.is_empty() {
        for line in std::io::stdin().lock().lines() {
            lines.push(line.map_err(|e| Fail::Msg(e.to_string()))?);
        }
    }
    let mut points = Vec::with_capacity(lines.len());
    for l in &lines {
        let l = l.replace("N:", &format!("{now}:"));
        let parts: Vec<&str> = l.split(':').collect();
        let [t, v] = parts[..] else {
            return Err(Fail::Msg(format!(
                "ValueError: bad datapoint '{}'",
                l.trim_end()
            )));
        };
        let ts = py_int(t).ok_or_else(|| {
            Fail::Msg(format!(
                "ValueError: invalid literal for int() with base 10: '{t}'"
            ))
        })?;
        let val = py_float(v).ok_or_else(|| {
            Fail::Msg(format!(
                "ValueError: could not convert string to float: '{v}'"
            ))
        })?;
        points.push((ts, val));
    }
    if points.is_empty() {
        return Ok(()); // whisper.update_many returns before opening the file
    }
    // A missing file is an IOError (a traceback in the script), a bad one a WhisperException.
    let mut w = Whisper::open_rw(&path).map_err(|e| match e {
        WspError::Io(_) => Fail::Msg(describe(&e, &path)),
        other => err(other, &path),
    })?;
    let r = if let [(ts, v)] = points[..] {
        w.update(v, ts, now)
    } else {
        w.update_many(&points, now)
    };
    r.map_err(|e| err(e, &path))
}

fn dump(a: DumpArgs) -> Out {
    if a.args.len() != 1 {
        eprintln!("Usage: carbonado whisper dump path\n\ncarbonado whisper dump: error: require one input file name");
        exit(2);
    }
    let path = PathBuf::from(&a.args[0]);
    if !path.exists() {
        return Err(Fail::Msg(format!(
            "[ERROR] File \"{}\" does not exist!",
            path.display()
        )));
    }
    let w = open(&path)?;
    let h = w.header();
    let mut out = String::new();
    if !a.raw {
        out.push_str("Meta data:\n");
        out.push_str(&format!("  aggregation method: {}\n", h.aggregation_method));
        out.push_str(&format!("  max retention: {}\n", h.max_retention));
        out.push_str(&format!(
            "  xFilesFactor: {}\n\n",
            pyfmt::percent_g(h.xff(), 6, 0)
        ));
        for (i, ar) in h.archives.iter().enumerate() {
            out.push_str(&format!("Archive {i} info:\n"));
            out.push_str(&format!("  offset: {}\n", ar.offset));
            out.push_str(&format!("  seconds per point: {}\n", ar.seconds_per_point));
            out.push_str(&format!("  points: {}\n", ar.points));
            out.push_str(&format!("  retention: {}\n", ar.retention()));
            out.push_str(&format!("  size: {}\n\n", ar.size()));
        }
    }
    for i in 0..h.archives.len() {
        if !a.raw {
            out.push_str(&format!("Archive {i} data:\n"));
        }
        for (n, (ts, v)) in w
            .raw_archive(i)
            .map_err(|e| err(e, &path))?
            .into_iter()
            .enumerate()
        {
            if a.raw {
                out.push_str(&format!("{ts}:{}\n", pyfmt::percent_g(v, 35, 0)));
            } else {
                let t = time_str(ts, a.pretty, a.time_format.as_deref());
                out.push_str(&format!("{n}: {t}, {}\n", pyfmt::percent_g(v, 35, 10)));
            }
        }
    }
    write_stdout(&out);
    Ok(())
}

const RESIZE_USAGE: &str =
    "Usage: carbonado whisper resize path timePerPoint:timeToStore [timePerPoint:timeToStore]*";

fn py_range(from: i64, until: i64, step: i64) -> String {
    if step == 1 {
        format!("range({from}, {until})")
    } else {
        format!("range({from}, {until}, {step})")
    }
}

fn resize(a: ResizeArgs) -> Out {
    if a.args.len() < 2 {
        return Err(Fail::Usage(RESIZE_USAGE));
    }
    let path = PathBuf::from(&a.args[0]);
    if !path.exists() {
        return Err(Fail::MsgUsage(
            format!("[ERROR] File '{}' does not exist!\n\n", path.display()),
            RESIZE_USAGE,
        ));
    }
    let now = now();
    open(&path)?;
    let archives = parse_archives(&a.args[1..])?;
    let method = match a.aggregation_method.as_deref() {
        Some(m) => Some(m.parse::<AggregationMethod>().map_err(|e| err(e, &path))?),
        None => None,
    };
    println!("Retrieving all data from the archives");
    let (newfile, tmp) = match &a.newfile {
        Some(n) => (n.clone(), false),
        None => {
            let t = PathBuf::from(format!("{}.tmp", path.display()));
            if t.exists() {
                println!("Removing previous temporary database file: {}", t.display());
                std::fs::remove_file(&t).map_err(|e| err(e.into(), &t))?;
            }
            (t, true)
        }
    };
    println!("Creating new whisper database: {}", newfile.display());
    let opts = ResizeOptions {
        xff: a.x_files_factor,
        method,
        aggregate: a.aggregate,
        now,
    };
    let report =
        whisper::resize(&path, &newfile, &archives, &opts).map_err(|e| err(e, &newfile))?;
    let size = std::fs::metadata(&newfile).map(|m| m.len()).unwrap_or(0);
    println!("Created: {} ({size} bytes)", newfile.display());
    if a.aggregate {
        println!("Migrating data with aggregation...");
        let ts: Vec<String> = report
            .old_timestamps
            .iter()
            .map(|t| t.to_string())
            .collect();
        println!("oldtimestamps: [{}]", ts.join(", "));
        for &(from, until, step) in &report.windows {
            println!("({from},{until},{step})");
            println!("timepoints_to_update: {}", py_range(from, until, step));
        }
    } else {
        println!("Migrating data without aggregation...");
    }
    if !tmp {
        return Ok(());
    }
    let backup = PathBuf::from(format!("{}.bak", path.display()));
    println!("Renaming old database to: {}", backup.display());
    std::fs::rename(&path, &backup).map_err(|e| err(e.into(), &path))?;
    println!("Renaming new database to: {}", path.display());
    if let Err(e) = std::fs::rename(&newfile, &path) {
        eprintln!("{e}");
        println!("\nOperation failed, restoring backup");
        let _ = std::fs::rename(&backup, &path);
        exit(1);
    }
    if a.nobackup {
        println!("Unlinking backup: {}", backup.display());
        std::fs::remove_file(&backup).map_err(|e| err(e.into(), &backup))?;
    }
    Ok(())
}

const SET_AGG_USAGE: &str =
    "Usage: carbonado whisper set-aggregation path <average|sum|last|max|min|avg_zero|absmax|absmin> [xFilesFactor]";

fn set_aggregation(a: SetAggregationArgs) -> Out {
    if a.args.len() < 2 {
        return Err(Fail::Usage(SET_AGG_USAGE));
    }
    let path = PathBuf::from(&a.args[0]);
    let method_name = &a.args[1];
    let xff_text = if a.args.len() == 3 {
        Some(a.args[2].as_str())
    } else {
        None
    };
    let missing = || {
        Fail::MsgUsage(
            format!("[ERROR] File '{}' does not exist!\n\n", path.display()),
            SET_AGG_USAGE,
        )
    };
    let w = match Whisper::open(&path) {
        Err(WspError::Io(_)) => return Err(missing()),
        other => other.map_err(|e| err(e, &path))?,
    };
    let old = w.header().aggregation_method;
    drop(w);
    let method: AggregationMethod = method_name.parse().map_err(|e| err(e, &path))?;
    let xff = match xff_text {
        Some(t) => Some(py_float(t).ok_or_else(|| {
            err(
                WspError::InvalidXFilesFactor(format!("Invalid xFilesFactor {t}, not a float")),
                &path,
            )
        })?),
        None => None,
    };
    whisper::set_aggregation(&path, Some(method), xff).map_err(|e| err(e, &path))?;
    println!(
        "Updated aggregation method: {} ({old} -> {method_name})",
        path.display()
    );
    Ok(())
}

fn set_xff(a: SetXffArgs) -> Out {
    let path = a.path;
    match whisper::set_x_files_factor(&path, a.xff) {
        Ok(old) => {
            println!(
                "Updated xFilesFactor: {} ({} -> {})",
                path.display(),
                repr(f64::from(old)),
                repr(a.xff)
            );
            Ok(())
        }
        Err(WspError::Io(_)) => Err(Fail::MsgUsage(
            format!("[ERROR] File '{}' does not exist!\n\n", path.display()),
            "usage: carbonado whisper set-xff path xFilesFactor",
        )),
        Err(e) => Err(err(e, &path)),
    }
}

fn fill(a: FillArgs) -> Out {
    if a.args.len() != 2 {
        return Err(Fail::Usage("Usage: carbonado whisper fill [--lock] src dst\n\ncopies data from src in dst, if missing"));
    }
    let (src, dst) = (PathBuf::from(&a.args[0]), PathBuf::from(&a.args[1]));
    let _ = a.lock;
    whisper::fill(&src, &dst, now()).map_err(|e| Fail::Msg(describe(&e, &src)))
}

fn merge(a: MergeArgs) -> Out {
    if a.args.len() < 2 {
        return Err(Fail::Usage(
            "Usage: carbonado whisper merge [options] from_path to_path",
        ));
    }
    let (from, to) = (PathBuf::from(&a.args[0]), PathBuf::from(&a.args[1]));
    for p in [&from, &to] {
        if !p.exists() {
            return Err(Fail::Msg(format!(
                "[ERROR] File \"{}\" does not exist!",
                p.display()
            )));
        }
    }
    whisper::merge(&from, &to, a.from, a.until, now()).map_err(|e| Fail::Msg(describe(&e, &from)))
}

fn opt_str(v: Option<f64>) -> String {
    v.map_or("None".to_string(), repr)
}

fn opt_json(v: Option<f64>) -> Json {
    v.map_or(Json::Null, Json::Float)
}

fn diff(a: DiffArgs) -> Out {
    if a.args.len() != 2 {
        return Err(Fail::Usage(
            "Usage: carbonado whisper diff [options] path_a path_b",
        ));
    }
    let (pa, pb) = (&a.args[0], &a.args[1]);
    let until = a.until.filter(|&u| u != 0);
    let diffs = whisper::diff(pa, pb, a.ignore_empty, until, now())
        .map_err(|e| Fail::Msg(describe(&e, Path::new(pa))))?;
    let pretty = !a.columns;
    let headers = !a.no_headers;
    let mut out = String::new();
    if a.json {
        let archives = diffs
            .iter()
            .map(|d| {
                let mut fields = vec![("archive".to_string(), Json::Int(d.archive as i64))];
                if !a.summary {
                    let pts = d
                        .points
                        .iter()
                        .map(|&(t, va, vb)| {
                            Json::Obj(vec![
                                ("timestamp".into(), Json::Int(t)),
                                ("value_a".into(), opt_json(va)),
                                ("value_b".into(), opt_json(vb)),
                            ])
                        })
                        .collect();
                    fields.push(("datapoint".into(), Json::List(pts)));
                }
                fields.push(("points".into(), Json::Int(d.points.len() as i64)));
                fields.push(("total".into(), Json::Int(d.total as i64)));
                Json::Obj(fields)
            })
            .collect();
        let j = Json::Obj(vec![
            ("archives".into(), Json::List(archives)),
            ("path_a".into(), Json::Str(pa.clone())),
            ("path_b".into(), Json::Str(pb.clone())),
        ]);
        out.push_str(&j.dumps(" : "));
        out.push('\n');
    } else if a.summary {
        let row = |c: [String; 3]| {
            if pretty {
                format!("{:>7} {:>9} {:>9}\n", c[0], c[1], c[2])
            } else {
                format!("{} {} {}\n", c[0], c[1], c[2])
            }
        };
        if headers {
            out.push_str(&row(["archive".into(), "total".into(), "differing".into()]));
        }
        for d in &diffs {
            out.push_str(&row([
                d.archive.to_string(),
                d.total.to_string(),
                d.points.len().to_string(),
            ]));
        }
    } else {
        let head = |c: [&str; 4]| {
            if pretty {
                format!("{:>7} {:>11} {:>13} {:>13}\n", c[0], c[1], c[2], c[3])
            } else {
                format!("{} {} {} {}\n", c[0], c[1], c[2], c[3])
            }
        };
        if headers {
            out.push_str(&head(["archive", "timestamp", "value_a", "value_b"]));
        }
        for d in &diffs {
            if pretty {
                out.push_str(&format!(
                    "Archive {} ({} of {} datapoints differ)\n",
                    d.archive,
                    d.points.len(),
                    d.total
                ));
                out.push_str(&head(["", "timestamp", "value_a", "value_b"]));
            }
            for &(t, va, vb) in &d.points {
                let (sa, sb) = (opt_str(va), opt_str(vb));
                if pretty {
                    out.push_str(&format!("{:>7} {:>11} {:>13} {:>13}\n", "", t, sa, sb));
                } else {
                    out.push_str(&format!("{} {t} {sa} {sb}\n", d.archive));
                }
            }
        }
    }
    write_stdout(&out);
    Ok(())
}
