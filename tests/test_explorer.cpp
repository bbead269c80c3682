// The attention explorer (examples/support/explorer.h, html_explorer.h): its numbers against the model's,
// its refusals, a page that asks for nothing from the network, and the page itself in a real browser
// (headless Chromium, when installed: QKV_CHROMIUM names it, else chromium or chromium-browser on PATH;
// each run is stopped after 60 s).
// The browser test injects a script into a copy of the page, lets Chromium run it (--dump-dom) and reads
// what it wrote into the DOM; it also saves a screenshot, QKV_TEST_TMP/explorer_screenshot.png.
#include <filesystem>
#include <fstream>

#include "helpers.h"
#include "nn/io/checkpoint.h"
#include "nn/io/checkpoint_metadata.h"
#include "nn/io/json.h"
#include "run_program.h"
#include "support/html_explorer.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;

namespace {

// A small untrained reverse model saved as a checkpoint: the explorer reads any weights.
std::string small_reverse_checkpoint(EncoderDecoder& model) {
  std::filesystem::create_directories(QKV_TEST_TMP);
  const std::string path = std::string(QKV_TEST_TMP) + "/explorer_reverse.safetensors";
  Checkpoint extra;
  extra.metadata = model_metadata(model);
  save_checkpoint(path, model, nullptr, extra);
  return path;
}

TransformerConfig small_config() {
  TransformerConfig c;
  c.vocab_size = 13, c.block.num_hiddens = 16, c.block.num_heads = 2, c.block.ffn_num_hiddens = 32;
  c.num_blks = 2, c.max_len = 32;
  return c;
}

// The encoder's block-0 attention weights [1,H,S,S] of the model on the digits, computed by the model alone.
std::vector<float> encoder_weights(EncoderDecoder& model, const std::vector<float>& digits) {
  model.eval();
  NoGrad no_grad;
  std::vector<float> src;
  for (float d : digits) src.push_back(3 + d);  // ReverseTask::first_digit
  const int64_t S = int64_t(src.size());
  model.forward(tensor(src, {1, S}), tensor({float(S)}), tensor({1.0f}, {1, 1}));
  return model.encoder->blocks[0]->attention->attention_weights.to_vector();
}

// The browser to run, or "" after warning that the browser tests are skipped.
std::string chromium() {
  if (const char* given = std::getenv("QKV_CHROMIUM")) return given;
  for (const char* name : {"chromium", "chromium-browser"})
    if (std::system(("command -v " + std::string(name) + " > /dev/null 2>&1").c_str()) == 0) return name;
  WARN(
      "SKIPPED: no chromium on PATH (apt-get install chromium, or set QKV_CHROMIUM); the page's browser "
      "test did not run");
  return "";
}

std::string unescape_html(std::string s) {
  for (auto [from, to] : {std::pair{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&amp;", "&"}})
    for (size_t at; (at = s.find(from)) != std::string::npos;) s.replace(at, std::string(from).size(), to);
  return s;
}

const json::Value& member(const json::Value& v, const std::string& key) {
  for (const auto& [k, value] : v.object)
    if (k == key) return value;
  FAIL("the page's test result has no " << key);
  return v;
}

double number(const json::Value& v) {
  return v.kind == json::Value::Kind::Int ? double(v.integer) : v.number;
}

// Runs in the page after its own script: reads the head view, hovers a query token, opens the numbers view
// for query 2 of head 1, and writes what it saw into <pre id="qkv-test-result">.
const char* kProbe = R"js(<script>
(() => {
  const out = { errors: window.__errors };
  try {
    const X = window.qkvExplorer, lines = () => [...document.querySelectorAll("#hv-lines line")];
    out.T = X.DATA.maps[0].T; out.S = X.DATA.maps[0].S;
    out.left = document.querySelectorAll(".hv-tok-left").length;
    out.right = document.querySelectorAll(".hv-tok-right").length;
    out.lines_before = lines().length;
    document.querySelector('.hv-tok-left[data-index="1"]').dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    out.lines_hover = lines().length;
    out.hover_only_query_1 = lines().every((l) => l.dataset.q === "1");
    document.querySelector('.hv-tok-left[data-index="1"]').dispatchEvent(new MouseEvent("mouseout", { bubbles: true }));
    out.lines_after = lines().length;
    document.querySelector('nav button[data-view="numbers-view"]').click();
    const set = (id, v) => { const s = document.getElementById(id); s.value = v; s.dispatchEvent(new Event("change")); };
    set("nv-query", "2"); set("nv-head", "1");
    out.softmax = [...document.querySelectorAll(".nv-softmax")].map((e) => Number(e.dataset.value));
    out.resources = performance.getEntriesByType("resource").length;
    document.querySelector('nav button[data-view="head-view"]').click();
    const t0 = performance.now(); X.render(); out.render_ms = performance.now() - t0;
    out.lines_rendered = lines().length;
    out.rows_in_view = Math.ceil(document.getElementById("hv-scroll").clientHeight / 18) + 5;
  } catch (e) { out.errors.push(String(e)); }
  document.body.insertAdjacentHTML("beforeend", '<pre id="qkv-test-result">' + JSON.stringify(out).replace(/</g, "\\u003c") + "</pre>");
})();
</script>)js";

}  // namespace

TEST_CASE("explorer: the queries and keys it shows give back the model's attention weights") {
  manual_seed(1);
  EncoderDecoder model(small_config());
  const std::string path = small_reverse_checkpoint(model);
  const explorer::Exploration ex = explorer::explore(path, "8 1 1 7 5");
  CHECK(ex.model_kind == "EncoderDecoder");
  REQUIRE(ex.maps.size() == 2 + 2 * 2);  // encoder self x2, then per decoder block: causal self, cross
  CHECK(ex.maps[0].kind == "encoder self");
  CHECK(ex.maps[2].kind == "decoder causal self");
  CHECK(ex.maps[3].kind == "cross");
  CHECK(ex.maps[0].query_tokens == std::vector<std::string>{"8", "1", "1", "7", "5"});
  CHECK(ex.maps[3].key_tokens == ex.maps[0].query_tokens);
  CHECK(ex.maps[3].query_tokens[0] == "<bos>");
  CHECK(ex.max_recompute_error < 1e-6);
  // Independently of the explorer: the model's own weights on the same source.
  const std::vector<float> w = encoder_weights(model, {8, 1, 1, 7, 5});
  REQUIRE(w.size() == ex.maps[0].weights.size());
  for (size_t i = 0; i < w.size(); ++i) CHECK(ex.maps[0].weights[i] == w[i]);
  const std::vector<double> row = explorer::recompute_row(ex.maps[2], 0, 0);  // causal: query 0 sees key 0
  CHECK(row[0] == Catch::Approx(1.0));
}

#ifdef QKV_EXAMPLES_DIR
TEST_CASE("explorer: a character GPT's checkpoint, read in its own vocabulary") {
  // A tiny train_chargpt run on a small text, then the explorer on a prompt in that text's characters.
  const std::string dir = testing::scratch_path("explorer", "chargpt");
  const std::string text = testing::scratch_path("explorer", "chargpt.txt");
  {
    std::ofstream out(text);
    for (int i = 0; i < 200; ++i) out << (i % 2 ? "the cat sat. " : "a dog ran.\n");
  }
  const testing::ProgramRun run = testing::run_program(
      testing::example("train_chargpt") + " --data " + text +
      " --width 32 --layers 2 --heads 2 --block 16 --batch 4 --steps 5 --eval-interval 5 --eval-iters 1"
      " --overwrite --out " + dir);
  INFO(run.output);
  REQUIRE(run.status == 0);
  const std::string path = dir + "/chargpt.safetensors";
  const explorer::Exploration ex = explorer::explore(path, "the\ncat");
  CHECK(ex.model_kind == "GPT");
  REQUIRE(ex.maps.size() == 2);  // one causal self-attention per block
  CHECK(ex.maps[0].kind == "causal self");
  const std::vector<std::string>& tokens = ex.maps[0].query_tokens;
  REQUIRE(tokens.size() >= 7);
  CHECK(std::vector<std::string>(tokens.begin(), tokens.begin() + 7) ==
        std::vector<std::string>{"t", "h", "e", "\\n", "c", "a", "t"});
  CHECK(int64_t(tokens.size()) <= 16);  // the prompt and its continuation fit the context
  CHECK(ex.max_recompute_error < 1e-5);
  CHECK_THROWS_WITH(explorer::explore(path, "theZ"), Contains("--input") && Contains("\"Z\" at 3") &&
                                                         Contains("not in the model's vocabulary"));
  CHECK_THROWS_WITH(explorer::explore(path, std::string(17, 't')), Contains("past the model's context of 16"));
}
#endif

TEST_CASE("explorer: refuses input its model cannot read, naming it") {
  manual_seed(1);
  EncoderDecoder model(small_config());
  const std::string path = small_reverse_checkpoint(model);
  CHECK_THROWS_WITH(
      explorer::explore(path, "8 x 1"),
      Contains("explore_attention: the reverse model reads digits 0-9 separated by spaces, but --input "
               "\"8 x 1\" holds \"x\""));
  CHECK_THROWS_WITH(explorer::explore(path, "  "),
                    Contains("explore_attention: --input \"  \" has no digits"));
}

TEST_CASE("explorer: the page is one file that names no network address and forbids requests") {
  manual_seed(1);
  EncoderDecoder model(small_config());
  const std::string html =
      explorer::explorer_html(explorer::explore(small_reverse_checkpoint(model), "8 1 1 7 5"));
  CHECK_THAT(html, Contains("Content-Security-Policy\" content=\"default-src 'none'"));
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find(" src=") == std::string::npos);
  CHECK(html.find("/*DATA*/") == std::string::npos);
  CHECK_THAT(html, Contains("\\u003cbos\\u003e"));  // token names cannot close the <script>
}

namespace {

// Runs kProbe on the page in Chromium; returns what it wrote. tag names the files and the profile folder.
json::Value probe_in_chromium(const std::string& browser, std::string page, const std::string& tag) {
  const std::string tmp = QKV_TEST_TMP, probed = tmp + "/explorer_probe_" + tag + ".html";
  page.insert(page.find("<head>") + 6,
              "<script>window.__errors = []; window.addEventListener(\"error\", (e) => "
              "window.__errors.push(String(e.message)));</script>");
  page.insert(page.rfind("</body>"), kProbe);
  std::ofstream(probed) << page;
  const testing::ProgramRun run = testing::run_program(
      "(timeout 60 " + browser +
      " --headless --no-sandbox --disable-gpu --no-first-run --virtual-time-budget=3000 " +
      "--user-data-dir=" + tmp + "/chromium-" + tag + " --dump-dom file://" + probed + " 2>/dev/null)");
  REQUIRE(run.status == 0);
  const size_t from = run.output.rfind("<pre id=\"qkv-test-result\">"), to = run.output.find("</pre>", from);
  INFO(run.output.substr(0, 2000));
  REQUIRE(from != std::string::npos);
  return json::parse(unescape_html(run.output.substr(from + 26, to - from - 26)));
}

}  // namespace

TEST_CASE("explorer: 256 tokens in headless Chromium: lines drawn only for the rows in view, quickly") {
  const std::string browser = chromium();
  if (browser.empty()) return;  // chromium() said why
  manual_seed(2);
  TransformerConfig c = small_config();
  c.max_len = 300;
  EncoderDecoder model(c);
  std::string digits;
  for (int i = 0; i < 256; ++i) digits += std::to_string((i * 7) % 10) + " ";
  const explorer::Exploration ex = explorer::explore(small_reverse_checkpoint(model), digits);
  REQUIRE(ex.maps[0].T == 256);
  const json::Value result = probe_in_chromium(browser, explorer::explorer_html(ex), "long");
  INFO(json::dump(result));
  CHECK(member(result, "errors").array.empty());
  CHECK(number(member(result, "left")) == 256);
  CHECK(number(member(result, "right")) == 256);
  // Never all 256 x 256 x 2 lines: only the rows in view (with a margin of 5) reach the page.
  CHECK(number(member(result, "lines_rendered")) <= number(member(result, "rows_in_view")) * 256 * 2);
  CHECK(number(member(result, "render_ms")) < 2000);
}

TEST_CASE("explorer: in headless Chromium, no script errors, one element per token, hover and numbers work") {
  const std::string browser = chromium();
  if (browser.empty()) return;  // chromium() said why
  manual_seed(1);
  EncoderDecoder model(small_config());
  const std::string page =
      explorer::explorer_html(explorer::explore(small_reverse_checkpoint(model), "8 1 1 7 5"));
  const std::string tmp = QKV_TEST_TMP, original = tmp + "/explorer.html";
  std::ofstream(original) << page;
  const json::Value result = probe_in_chromium(browser, page, "dom");
  INFO(json::dump(result));
  CHECK(member(result, "errors").array.empty());
  CHECK(number(member(result, "left")) == 5);  // encoder self-attention on 5 digits: 5 queries, 5 keys
  CHECK(number(member(result, "right")) == 5);
  CHECK(number(member(result, "lines_before")) > 0);
  CHECK(number(member(result, "lines_hover")) < number(member(result, "lines_before")));
  CHECK(member(result, "hover_only_query_1").boolean);
  CHECK(number(member(result, "lines_after")) == number(member(result, "lines_before")));
  CHECK(number(member(result, "resources")) == 0);
  // The numbers view's softmax row (query 2, head 1) sums to 1 and is the model's own row, to 1e-6.
  const std::vector<float> w = encoder_weights(model, {8, 1, 1, 7, 5});  // [1,H=2,5,5]
  const auto& softmax = member(result, "softmax").array;
  REQUIRE(softmax.size() == 5);
  double sum = 0;
  for (size_t s = 0; s < 5; ++s) {
    sum += number(softmax[s]);
    CHECK(std::abs(number(softmax[s]) - double(w[(1 * 5 + 2) * 5 + s])) < 1e-6);
  }
  CHECK(std::abs(sum - 1) < 1e-6);
  // A picture to look at (CI keeps it): the cross-attention's model view.
  std::filesystem::remove(tmp + "/explorer_screenshot.png");
  const testing::ProgramRun shot = testing::run_program(
      "(timeout 60 " + browser + " --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=" +
      tmp + "/chromium-shot --window-size=1200,800 --screenshot=" + tmp +
      "/explorer_screenshot.png \"file://" + original + "#view=model-view&kind=cross\" 2>/dev/null)");
  CHECK(shot.status == 0);
  CHECK(std::filesystem::file_size(tmp + "/explorer_screenshot.png") > 1000);
}
