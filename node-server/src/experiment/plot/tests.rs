//! The charts come out as well-formed SVG (checked with quick-xml) holding every series and
//! label, and as a PNG whose text was really drawn (decoded with `image`).

use super::*;
use pow_core::stats::{
    arrival_order, expected_wasted_share, fairness, race_times, wasted_work, NodeInput, RaceInput,
    RaceWork,
};
use quick_xml::events::Event;
use quick_xml::Reader;

/// A node name that needs escaping in XML.
const ODD_NAME: &str = "Node<3>&\"x\"";

struct Figures {
    fairness: Fairness,
    times: RaceTimes,
    bits: Vec<u32>,
    wasted: WastedWork,
    arrival: ArrivalOrder,
}

fn figures() -> Figures {
    let names = ["Node1", "Node2", ODD_NAME];
    let wins = [110u64, 45, 45];
    let rates = [4e6, 2e6, 2e6];
    let nodes: Vec<NodeInput> = names
        .iter()
        .zip(wins.iter().zip(rates))
        .map(|(name, (&w, r))| NodeInput {
            name: (*name).to_owned(),
            wins: w,
            races: 200,
            hashes: (r * 30.0) as u64,
            mining_secs: 30.0,
        })
        .collect();
    let times: Vec<RaceInput> = (0..200)
        .map(|i| RaceInput {
            // Quantiles of the exponential law, so the histogram has a shape.
            time_secs: -(1.0 - (i as f64 + 0.5) / 200.0).ln() * 0.008,
            difficulty_bits: 16,
            total_hash_rate: 65536.0 / 0.008,
        })
        .collect();
    let work: Vec<RaceWork> = (0..200)
        .map(|i| RaceWork {
            winner_hashes: 1000 + i,
            loser_hashes: 1500 + 7 * i,
        })
        .collect();
    let ranks: Vec<usize> = (0..200).map(|i| [0, 0, 0, 1, 2][i % 5]).collect();
    Figures {
        fairness: fairness(&nodes, 0.05).unwrap(),
        times: race_times(&times, 0.05).unwrap(),
        bits: (0..200).map(|i| 16 + (i / 16 % 3) as u32).collect(),
        wasted: wasted_work(&work),
        arrival: arrival_order(&ranks, 3, 0.05).unwrap(),
    }
}

fn charts<'a>(f: &'a Figures) -> Charts<'a> {
    Charts {
        title: "powrace: lottery, 200 races",
        fairness: Some(&f.fairness),
        race_times: Some(&f.times),
        difficulty_bits: &f.bits,
        target_time_secs: Some(0.008),
        wasted: Some(&f.wasted),
        expected_wasted_share: Some(expected_wasted_share(&[0.5, 0.25, 0.25])),
        arrival: Some(&f.arrival),
    }
}

/// What an SVG holds: its root element, every `<text>`'s content (unescaped), and every
/// `<polyline>`'s stroke colour with its number of points. Panics if it is not well-formed.
struct Svg {
    root: String,
    texts: Vec<String>,
    polylines: Vec<(String, usize)>,
    rects: usize,
}

fn parse(svg: &str) -> Svg {
    let mut reader = Reader::from_str(svg);
    let mut out = Svg {
        root: String::new(),
        texts: Vec::new(),
        polylines: Vec::new(),
        rects: 0,
    };
    let mut text: Option<String> = None;
    let mut depth = 0i32;
    loop {
        let event = reader.read_event().expect("well-formed XML");
        let element = |e: &quick_xml::events::BytesStart| {
            String::from_utf8(e.name().as_ref().to_vec()).unwrap()
        };
        let attr = |e: &quick_xml::events::BytesStart, key: &str| {
            e.attributes()
                .map(|a| a.expect("well-formed attribute"))
                .find(|a| a.key.as_ref() == key.as_bytes())
                .map(|a| a.unescape_value().unwrap().into_owned())
        };
        match event {
            Event::Start(e) => {
                if depth == 0 {
                    out.root = element(&e);
                }
                depth += 1;
                if e.name().as_ref() == b"text" {
                    text = Some(String::new());
                }
            }
            Event::Empty(e) => match e.name().as_ref() {
                b"polyline" => {
                    let points = attr(&e, "points").unwrap_or_default();
                    out.polylines.push((
                        attr(&e, "stroke").unwrap_or_default(),
                        points.split_whitespace().count(),
                    ));
                }
                b"rect" => out.rects += 1,
                _ => {}
            },
            Event::Text(t) => {
                if let Some(s) = &mut text {
                    s.push_str(&t.decode().unwrap());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(s) = &mut text {
                    s.push_str(&format!("&{};", r.decode().unwrap()));
                }
            }
            Event::End(e) => {
                depth -= 1;
                if e.name().as_ref() == b"text" {
                    let raw = text.take().unwrap();
                    out.texts.push(
                        quick_xml::escape::unescape(raw.trim())
                            .unwrap()
                            .into_owned(),
                    );
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "every element closed");
    out
}

#[test]
fn the_svg_is_well_formed_and_holds_every_series() {
    let f = figures();
    let svg = render_svg(&charts(&f)).unwrap();
    let doc = parse(&svg);
    assert_eq!(doc.root, "svg");
    let has = |s: &str| doc.texts.iter().any(|t| t.contains(s));
    for label in [
        "powrace: lottery, 200 races",
        // Node names, in the chart and the legend, escaped and unescaped intact.
        "Node1",
        "Node2",
        ODD_NAME,
        "Node1: 110 of 200 wins, hash share 50.0%",
        // Axis labels and captions of every chart.
        "hash share",
        "win share (95% interval)",
        "Win share vs hash share (200 races; fit p",
        "race time (s)",
        "races per bin",
        "Race times: mean",
        "predicted: exponential, mean 2^bits / total hash rate",
        "difficulty (zero bits)",
        "Difficulty over time (retargeting to 8.0 ms per race)",
        "losers' share of the race's hashes",
        "Wasted work: losers did",
        "fair lottery, losers stopping: 62.5%",
        "order in which the node started the race",
        "1st",
        "arrival does not matter: 33.3% each",
    ] {
        assert!(has(label), "no text {label:?} in {:?}", doc.texts);
    }
    // The predicted race-time step line: two points per histogram bin, in red.
    let bins = f.times.histogram.len();
    assert!(
        doc.polylines
            .iter()
            .any(|(stroke, n)| stroke == "#FF0000" && *n == 2 * bins),
        "{:?}",
        doc.polylines
    );
    // The difficulty step line: two points per race, in blue.
    assert!(doc
        .polylines
        .iter()
        .any(|(stroke, n)| stroke == "#0000FF" && *n == 2 * f.bits.len()));
    // A bar per histogram bin and per arrival rank, beside the backgrounds and legends.
    assert!(doc.rects >= bins + 3);
}

#[test]
fn missing_figures_get_a_no_data_panel() {
    let svg = render_svg(&Charts {
        title: "empty",
        ..Charts::default()
    })
    .unwrap();
    let doc = parse(&svg);
    for label in [
        "no fairness figures",
        "no race times",
        "no races",
        "no work figures",
    ] {
        assert!(doc.texts.iter().any(|t| t == label), "{label}");
    }
}

#[test]
fn png_is_written_with_its_text_drawn() {
    let f = figures();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.png");
    write(&path, &charts(&f)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), size(&charts(&f)));
    // The title band holds only the title: dark pixels there are its glyphs, drawn with the
    // embedded font (without one the bitmap backend draws no text at all).
    let dark = (0..WIDTH)
        .flat_map(|x| (0..TITLE_HEIGHT).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 128))
        .count();
    assert!(dark > 300, "{dark} dark pixels in the title band");
}

#[test]
fn the_file_name_picks_the_format() {
    let f = figures();
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("Report.SVG");
    write(&svg, &charts(&f)).unwrap();
    parse(&std::fs::read_to_string(&svg).unwrap());
    assert!(matches!(
        write(&dir.path().join("report.pdf"), &charts(&f)),
        Err(PlotError::UnknownFormat(_))
    ));
    assert!(matches!(
        write(&dir.path().join("missing/report.svg"), &charts(&f)),
        Err(PlotError::Io { .. })
    ));
    assert!(write(&dir.path().join("missing/report.png"), &charts(&f)).is_err());
}
