// SPDX-License-Identifier: BSD-3-Clause
// FASTQ reader/writer and read packing: valid input (chunked == whole file, CRLF, no final
// newline), one test per class of malformed input, and the ReadBatch layout.
#include <DiffBio_Fastq.hpp>

#include "DiffBio_IoTestUtils.hpp"

#include <gtest/gtest.h>

namespace {

using diffbio::ExitCode;
using diffbio::io::FastqReader;
using diffbio::io::FastqRecord;
using diffbio::io::pack_reads;
using diffbio::io::read_fastq;
using diffbio::io::write_fastq;
using diffbio::test::catch_error;
using diffbio::test::expect_input_error;
using diffbio::test::TempDir;
using diffbio::test::write_bytes;

bool same(const FastqRecord& a, const FastqRecord& b) {
  return a.name == b.name && a.sequence == b.sequence && a.quality == b.quality;
}

// Five records covering a description, lower case, other IUPAC codes, an empty read, the full
// quality range and a '+' line that repeats the name (in full and as the bare identifier).
const std::string kFiveRecords =
    "@r1 sample=A lane=1\nACGTN\n+\nIIIII\n"
    "@r2\nacgtRYKM\n+r2\n!!!!~~~~\n"
    "@r3\n\n+\n\n"
    "@r4 desc\nGATTACA\n+r4\nABCDEFG\n"
    "@r5\tSAM:Z:tag\nUUuuBDHVSWbdhvsw\n+r5\tSAM:Z:tag\n0123456789:;<=>?\n";

std::vector<FastqRecord> expected_five() {
  return {{"r1 sample=A lane=1", "ACGTN", "IIIII"},
          {"r2", "acgtRYKM", "!!!!~~~~"},
          {"r3", "", ""},
          {"r4 desc", "GATTACA", "ABCDEFG"},
          {"r5\tSAM:Z:tag", "UUuuBDHVSWbdhvsw", "0123456789:;<=>?"}};
}

void expect_records(const std::vector<FastqRecord>& got, const std::vector<FastqRecord>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_TRUE(same(got[i], want[i])) << "record " << i + 1 << ": '" << got[i].name << "' '"
                                       << got[i].sequence << "' '" << got[i].quality << "'";
}

// ---- valid input -----------------------------------------------------------------------------

TEST(Fastq, ReadsWholeFile) {
  TempDir dir;
  write_bytes(dir / "ok.fq", kFiveRecords);
  expect_records(read_fastq(dir / "ok.fq"), expected_five());
}

TEST(Fastq, ChunkedReadingMatchesWholeFile) {
  TempDir dir;
  const auto path = (dir / "ok.fq").string();
  write_bytes(path, kFiveRecords);
  FastqReader reader(path);
  std::vector<FastqRecord> chunk, all;
  std::vector<std::size_t> sizes;
  while (std::size_t n = reader.read_chunk(chunk, 2)) {
    ASSERT_EQ(n, chunk.size());
    sizes.push_back(n);
    all.insert(all.end(), chunk.begin(), chunk.end());
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{2, 2, 1}));
  EXPECT_TRUE(chunk.empty());
  EXPECT_EQ(reader.records_read(), 5u);
  EXPECT_EQ(reader.read_chunk(chunk, 2), 0u);  // EOF is sticky, not an error
  expect_records(all, read_fastq(path));
  expect_records(all, expected_five());
}

TEST(Fastq, ChunkLargerThanFile) {
  TempDir dir;
  write_bytes(dir / "ok.fq", kFiveRecords);
  FastqReader reader((dir / "ok.fq").string());
  std::vector<FastqRecord> chunk(10);  // stale contents must be replaced
  EXPECT_EQ(reader.read_chunk(chunk, 100), 5u);
  expect_records(chunk, expected_five());
  EXPECT_EQ(reader.read_chunk(chunk, 100), 0u);
}

TEST(Fastq, CrlfLineEndings) {
  TempDir dir;
  std::string crlf;
  for (char c : kFiveRecords) crlf += (c == '\n') ? std::string("\r\n") : std::string(1, c);
  write_bytes(dir / "crlf.fq", crlf);
  expect_records(read_fastq(dir / "crlf.fq"), expected_five());
}

TEST(Fastq, NoFinalNewline) {
  TempDir dir;
  write_bytes(dir / "lf.fq", "@a\nACGT\n+\nIIII\n@b\nGG\n+\n!!");
  expect_records(read_fastq(dir / "lf.fq"), {{"a", "ACGT", "IIII"}, {"b", "GG", "!!"}});
  write_bytes(dir / "crlf.fq", "@a\r\nACGT\r\n+\r\nIIII\r\n@b\r\nGG\r\n+\r\n!!");
  expect_records(read_fastq(dir / "crlf.fq"), {{"a", "ACGT", "IIII"}, {"b", "GG", "!!"}});
}

TEST(Fastq, TrailingBlankLinesAreIgnored) {
  TempDir dir;
  write_bytes(dir / "t.fq", "@a\nACGT\n+\nIIII\n\n\r\n\n");
  expect_records(read_fastq(dir / "t.fq"), {{"a", "ACGT", "IIII"}});
}

TEST(Fastq, AcceptsEveryIupacCodeInEitherCase) {
  TempDir dir;
  const std::string codes = "ACGTURYSWKMBDHVNacgturyswkmbdhvn";
  write_bytes(dir / "iupac.fq", "@x\n" + codes + "\n+\n" + std::string(codes.size(), 'F') + "\n");
  EXPECT_EQ(read_fastq(dir / "iupac.fq").at(0).sequence, codes);
}

// ---- malformed input: one line, input_error, file + record + problem --------------------------

struct BadCase {
  const char* label;
  std::string content;
  long long record;
  std::string problem;
};

// gtest prints parameters of failing cases; the label is what identifies one.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.label; }

class FastqMalformed : public ::testing::TestWithParam<BadCase> {};

TEST_P(FastqMalformed, ThrowsOneLineInputError) {
  const BadCase& c = GetParam();
  TempDir dir;
  const auto path = dir / "bad.fq";
  write_bytes(path, c.content);
  // Both the whole-file helper and small chunks must report the same record.
  expect_input_error(catch_error([&] { read_fastq(path.string()); }), path, c.record, c.problem);
  expect_input_error(catch_error([&] {
                       FastqReader r(path.string());
                       std::vector<FastqRecord> chunk;
                       while (r.read_chunk(chunk, 1) > 0) {
                       }
                     }),
                     path, c.record, c.problem);
}

const std::string kGood = "@ok\nACGT\n+\nIIII\n";  // record 1 of multi-record cases

INSTANTIATE_TEST_SUITE_P(
    Fastq, FastqMalformed,
    ::testing::Values(
        BadCase{"EmptyFile", "", 1, "empty file"},
        BadCase{"OnlyBlankLines", "\n\r\n\n", 1, "empty file"},
        BadCase{"HeaderWithoutAt", kGood + "ok2\nACGT\n+\nIIII\n", 2,
                "header line does not start with '@' (line 5 starts with 'o')"},
        BadCase{"FirstHeaderWithoutAt", ">fasta\nACGT\n", 1, "does not start with '@'"},
        BadCase{"GzipFile", std::string("\x1f\x8b\x08\x00", 4) + "rest", 1, "gzip-compressed"},
        BadCase{"EmptyName", "@\nACGT\n+\nIIII\n", 1, "empty read name"},
        BadCase{"BlankLineBetweenRecords", kGood + "\n" + kGood, 2, "unexpected blank line (line 5)"},
        BadCase{"MissingPlus", kGood + "@r2\nACGT\nIIII\n@r3\nA\n+\nI\n", 2,
                "missing '+' separator line (line 7 starts with 'I')"},
        BadCase{"EmptySeparatorLine", "@r1\nACGT\n\nIIII\n", 1, "missing '+' separator line"},
        BadCase{"PlusNamesOtherRead", "@r1\nACGT\n+r9\nIIII\n", 1, "different read name"},
        BadCase{"TruncatedAfterHeader", kGood + "@r2\n", 2,
                "truncated record: file ends after line 5 and the sequence line is missing"},
        BadCase{"TruncatedAfterSequence", kGood + "@r2\nACGT\n", 2,
                "truncated record: file ends after line 6 and the '+' separator line is missing"},
        BadCase{"TruncatedAfterPlus", kGood + "@r2\nACGT\n+", 2,
                "truncated record: file ends after line 7 and the quality line is missing"},
        BadCase{"LengthMismatch", kGood + "@r2\nACGTACGTAC\n+\nIIIIIIIII\n", 2,
                "sequence and quality lengths differ (sequence 10, quality 9"},
        BadCase{"QualityLonger", "@r1\nAC\n+\nIII", 1, "(sequence 2, quality 3"},
        BadCase{"NonAsciiInSequence", kGood + "@r2\nAC\xC3\xA9\n+\nIIII\n", 2,
                "non-ASCII or control byte 0xC3 in the sequence line (line 6, column 3)"},
        BadCase{"ControlByteInQuality", "@r1\nACGT\n+\nII\x01I\n", 1,
                "non-ASCII or control byte 0x01 in the quality line (line 4, column 3)"},
        BadCase{"ControlByteInHeader", "@r\x7f" "1\nACGT\n+\nIIII\n", 1,
                "non-ASCII or control byte 0x7F in the header line (line 1"},
        BadCase{"ControlByteStartsHeader", kGood + "\x02r2\nA\n+\nI\n", 2,
                "non-ASCII or control byte 0x02 in the header line (line 5, column 1)"},
        BadCase{"LoneCarriageReturn", "@r1\nAC\rGT\n+\nIIIII\n", 1, "control byte 0x0D"},
        BadCase{"QualitySpace", "@r1\nACGT\n+\nII I\n", 1,
                "quality character 0x20 (line 4, column 3) is outside '!'..'~'"},
        BadCase{"SequenceX", kGood + kGood + "@r3\nACGX\n+\nIIII\n", 3,
                "invalid sequence character 'X' (line 10, column 4)"},
        BadCase{"SequenceDot", "@r1\nAC.T\n+\nIIII\n", 1, "invalid sequence character '.'"},
        BadCase{"SequenceGap", "@r1\nAC-T\n+\nIIII\n", 1, "invalid sequence character '-'"},
        BadCase{"SequenceDigit", "@r1\nAC1T\n+\nIIII\n", 1, "invalid sequence character '1'"},
        BadCase{"SequenceSpace", "@r1\nAC T\n+\nIIII\n", 1, "invalid sequence character 0x20"}),
    [](const ::testing::TestParamInfo<BadCase>& p) { return std::string(p.param.label); });

TEST(Fastq, MissingFile) {
  TempDir dir;
  const auto path = dir / "absent.fq";
  expect_input_error(catch_error([&] { FastqReader r(path.string()); }), path, -1,
                     "cannot open file");
  expect_input_error(catch_error([&] { read_fastq(path.string()); }), path, -1,
                     "No such file or directory");
}

TEST(Fastq, DirectoryIsNotAFile) {
  TempDir dir;
  expect_input_error(catch_error([&] { FastqReader r(dir.path().string()); }), dir.path(), -1,
                     "cannot open file: is a directory");
}

// ---- writer ----------------------------------------------------------------------------------

TEST(Fastq, WriteReadRoundTrip) {
  TempDir dir;
  const auto path = (dir / "out.fq").string();
  write_fastq(path, expected_five());
  expect_records(read_fastq(path), expected_five());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.fq"});  // no temporary left over
}

TEST(Fastq, FailedWriteLeavesNothingAndKeepsOldFile) {
  TempDir dir;
  const auto path = dir / "out.fq";
  write_fastq(path.string(), {{"old", "AC", "II"}});
  const std::string before = diffbio::test::read_bytes(path);

  std::vector<FastqRecord> bad = expected_five();
  bad[3].quality.pop_back();  // record 4: length mismatch
  const diffbio::Error e = catch_error([&] { write_fastq(path.string(), bad); });
  EXPECT_EQ(e.code(), ExitCode::output_error);
  EXPECT_EQ(std::string(e.what()).rfind(path.string() + ": record 4: ", 0), 0u) << e.what();
  EXPECT_NE(std::string(e.what()).find("sequence 7, quality 6"), std::string::npos) << e.what();

  EXPECT_EQ(diffbio::test::read_bytes(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.fq"});

  const diffbio::Error e2 = catch_error([&] {
    write_fastq((dir / "new.fq").string(), {{"ok", "A", "I"}, {"bad\nname", "A", "I"}});
  });
  EXPECT_EQ(e2.code(), ExitCode::output_error);
  EXPECT_NE(std::string(e2.what()).find("record 2"), std::string::npos);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.fq"});
}

TEST(Fastq, WriteIntoMissingDirectoryIsOutputError) {
  TempDir dir;
  const auto path = dir / "no" / "such" / "out.fq";
  const diffbio::Error e = catch_error([&] { write_fastq(path.string(), {{"a", "A", "I"}}); });
  EXPECT_EQ(e.code(), ExitCode::output_error);
  EXPECT_EQ(std::string(e.what()).rfind(path.string() + ": ", 0), 0u) << e.what();
}

// ---- packing ---------------------------------------------------------------------------------

TEST(PackReads, PaddingAndBaseCodes) {
  // Qualities '!', '+', '5', '?', 'I' are Phred 0, 10, 20, 30, 40.
  const std::vector<FastqRecord> reads = {
      {"a", "ACGTN", "!+5?I"}, {"b", "acgu", "IIII"}, {"c", "RY", "~!"}, {"d", "", ""}};
  const auto b = pack_reads(reads);
  ASSERT_EQ(b.n_reads, 4u);
  ASSERT_EQ(b.max_len, 5u);
  ASSERT_EQ(b.base.size(), 20u);
  ASSERT_EQ(b.quality.size(), 20u);
  EXPECT_EQ(b.length, (std::vector<int>{5, 4, 2, 0}));
  EXPECT_EQ(b.names, (std::vector<std::string>{"a", "b", "c", "d"}));
  const std::vector<std::uint8_t> base = {0, 1, 2, 3, 4,   // ACGTN
                                          0, 1, 2, 3, 4,   // acgu + padding
                                          4, 4, 4, 4, 4,   // R Y are "other"; padding
                                          4, 4, 4, 4, 4};  // empty read: all padding
  const std::vector<std::uint8_t> qual = {0,  10, 20, 30, 40,  //
                                          40, 40, 40, 40, 0,   //
                                          93, 0,  0,  0,  0,   //
                                          0,  0,  0,  0,  0};
  EXPECT_EQ(b.base, base);
  EXPECT_EQ(b.quality, qual);
}

TEST(PackReads, TruncatesToMaxLen) {
  const std::vector<FastqRecord> reads = {{"long", "ACGTACGT", "!+5?I!+5"}, {"short", "G", "I"}};
  const auto b = pack_reads(reads, 3);
  ASSERT_EQ(b.max_len, 3u);
  EXPECT_EQ(b.length, (std::vector<int>{3, 1}));
  EXPECT_EQ(b.base, (std::vector<std::uint8_t>{0, 1, 2, 2, 4, 4}));
  EXPECT_EQ(b.quality, (std::vector<std::uint8_t>{0, 10, 20, 40, 0, 0}));
}

TEST(PackReads, WiderThanLongestRead) {
  const auto b = pack_reads({{"x", "TT", "II"}}, 4);
  EXPECT_EQ(b.max_len, 4u);
  EXPECT_EQ(b.base, (std::vector<std::uint8_t>{3, 3, 4, 4}));
  EXPECT_EQ(b.quality, (std::vector<std::uint8_t>{40, 40, 0, 0}));
}

TEST(PackReads, EmptyInput) {
  const auto b = pack_reads({});
  EXPECT_EQ(b.n_reads, 0u);
  EXPECT_EQ(b.max_len, 0u);
  EXPECT_TRUE(b.base.empty() && b.quality.empty() && b.length.empty() && b.names.empty());
}

TEST(PackReads, MismatchedRecordIsAPreconditionError) {
  const diffbio::Error e = catch_error([] { pack_reads({{"x", "ACGT", "II"}}); });
  EXPECT_EQ(e.code(), ExitCode::internal);
}

TEST(PackReads, FromFile) {
  TempDir dir;
  write_bytes(dir / "ok.fq", kFiveRecords);
  const auto b = pack_reads(read_fastq(dir / "ok.fq"));
  EXPECT_EQ(b.max_len, 16u);
  EXPECT_EQ(b.length, (std::vector<int>{5, 8, 0, 7, 16}));
  EXPECT_EQ(b.base[4 * 16 + 0], 3);  // 'U' counts as T
}

}  // namespace
