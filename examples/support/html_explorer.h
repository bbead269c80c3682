// The attention explorer as one self-contained HTML file: inline CSS, JavaScript and data, no network
// access, no libraries; it opens from disk in any current browser. The page's views are described in
// html_explorer_page.cpp; the numbers come from explorer.h.
#pragma once
#include <string>

#include "support/explorer.h"

namespace qkv::explorer {

// The data as JSON: {"model", "checkpoint", "input", "answer", "maps": [{"module", "kind", "layer", "H",
// "Dh", "T", "S", "query_tokens", "key_tokens", "q", "k", "v", "weights", "keep"}]}, floats written with
// 9 significant digits (they read back as the same float), safe inside a <script> element.
std::string to_json(const Exploration& ex);
// The whole page.
std::string explorer_html(const Exploration& ex);
const char* page_template();  // with /*DATA*/ where the JSON goes

}  // namespace qkv::explorer
