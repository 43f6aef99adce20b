import Link from 'next/link'

export const metadata = {
  title: "shared-isr: 'use cache' across instances",
  description: "Cache Components whose 'use cache' entries every instance shares",
}

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 720, margin: '2rem auto', padding: '0 1rem' }}>
        <nav style={{ display: 'flex', gap: '1rem', marginBottom: '1.5rem' }}>
          <Link href="/" prefetch={false}>
            Home
          </Link>
          <Link href="/articles/alpha" prefetch={false}>
            Alpha
          </Link>
          <Link href="/edit/alpha" prefetch={false}>
            Edit alpha
          </Link>
          <Link href="/notice" prefetch={false}>
            Notice
          </Link>
          <Link href="/ticker" prefetch={false}>
            Ticker
          </Link>
        </nav>
        {children}
      </body>
    </html>
  )
}
